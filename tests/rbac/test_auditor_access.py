"""External auditors: time-boxed, read-only access through a token or an expiring sign-in link."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.rbac.auditor_links import auditor_link_create, auditor_link_revoke
from apps.rbac.models import ApiToken, AuditorLink, RoleAssignment
from apps.rbac.tokens import token_issue, token_revoke
from tests.factories import ApiClient
from tests.personas import JANUARY, actor_for

pytestmark = pytest.mark.django_db

IN_JANUARY = {"alice-p1", "carol-p2"}


def listed(api: ApiClient) -> set[str]:
    response = api.get("/api/v1/audit-logs", {"limit": 100})
    assert response.status_code == 200, response.content
    return {e["event_id"] for e in response.json()["audit_logs"]}


@pytest.fixture
def link(people):
    return auditor_link_create(actor=actor_for(people["admin"]), label="KPMG SOC 2", email="lead@kpmg.example",
                               window_start=JANUARY[0], window_end=JANUARY[1],
                               expires_at=timezone.now() + timedelta(days=7))


def open_link(secret: str) -> Client:
    client = Client()
    response = client.post(f"/auditor-access/{secret}/")
    assert response.status_code == 302 and response["Location"] == "/"  # the dashboard, on the audit window
    return client


# --- tokens ---------------------------------------------------------------------------------------


def test_an_auditor_token_lists_only_the_events_inside_its_window(log):
    secret = token_issue(scope="auditor", window_start=JANUARY[0], window_end=JANUARY[1]).secret

    assert listed(ApiClient(secret)) == IN_JANUARY
    assert ApiClient(secret).get("/api/v1/audit-logs/bob-p1").status_code == 404


def test_an_auditor_token_limited_to_a_project_sees_that_project_inside_the_window(log):
    secret = token_issue(scope="auditor", window_start=JANUARY[0], window_end=JANUARY[1], projects=["p2"]).secret

    assert listed(ApiClient(secret)) == {"carol-p2"}


def test_an_auditor_token_is_refused_once_it_has_expired(log):
    issued = token_issue(scope="auditor", window_start=JANUARY[0], window_end=JANUARY[1], expires_in=timedelta(hours=1))
    assert listed(ApiClient(issued.secret)) == IN_JANUARY

    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert ApiClient(issued.secret).get("/api/v1/audit-logs").status_code == 401


def test_a_revoked_auditor_token_is_refused(log, people):
    issued = token_issue(scope="auditor", window_start=JANUARY[0], window_end=JANUARY[1])

    token_revoke(token=issued.token, actor=actor_for(people["admin"]))

    assert ApiClient(issued.secret).get("/api/v1/audit-logs").status_code == 401


def test_an_auditor_token_cannot_write_events(log):
    secret = token_issue(scope="auditor", window_start=JANUARY[0], window_end=JANUARY[1]).secret

    assert ApiClient(secret).post("/api/v1/events", {"action": "auth.login"}).status_code == 403


def test_an_auditor_token_without_a_window_sees_nothing_even_if_one_slipped_in(log):
    token = token_issue(scope="read").token
    ApiToken.objects.filter(pk=token.pk).update(scope="auditor")
    token.refresh_from_db()

    from apps.events.models import Event
    assert not Event.objects.visible_to(token).exists()


# --- sign-in links ------------------------------------------------------------------------------


def test_opening_a_link_asks_before_signing_in(link, log):
    client = Client()

    response = client.get(f"/auditor-access/{link.secret}/")

    assert response.status_code == 200
    assert b"Continue as external auditor" in response.content
    assert b"KPMG SOC 2" in response.content
    # A link preview or scanner that only fetches the URL does not get a session.
    assert client.get("/events/").status_code == 302


def test_a_link_signs_in_a_read_only_session_limited_to_the_window(link, log):
    client = open_link(link.secret)

    response = client.get("/events/")

    assert {event.event_id for event in response.context["page"].events} == IN_JANUARY
    assert b"External auditor session" in response.content
    assert client.get("/events/alice-p1/").status_code == 200
    assert client.get("/events/bob-p1/").status_code == 404
    assert client.get("/access/users/").status_code == 403
    assert client.post("/access/teams/create/", {"name": "x"}).status_code == 403


def test_a_link_can_be_used_again_until_it_expires(link, log):
    open_link(link.secret)
    open_link(link.secret)

    AuditorLink.objects.filter(pk=link.link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = Client().post(f"/auditor-access/{link.secret}/")
    assert response.status_code == 404
    assert b"not valid" in response.content


def test_an_open_auditor_session_ends_when_the_link_expires(link, log):
    client = open_link(link.secret)
    past = timezone.now() - timedelta(seconds=1)

    AuditorLink.objects.filter(pk=link.link.pk).update(expires_at=past)
    RoleAssignment.objects.filter(user=link.link.user).update(expires_at=past)

    response = client.get("/events/", follow=True)
    assert response.redirect_chain[0] == ("/accounts/login/", 302)
    assert b"access has ended" in response.content
    assert client.get("/events/").status_code == 302


def test_revoking_a_link_ends_its_open_session_and_its_role(link, log, people):
    client = open_link(link.secret)

    auditor_link_revoke(actor=actor_for(people["admin"]), link=link.link)

    assert client.get("/events/").status_code == 302
    assert Client().post(f"/auditor-access/{link.secret}/").status_code == 404
    user = type(link.link.user).objects.get(pk=link.link.user.pk)
    assert not user.has_perm("events.view_event")


def test_an_unknown_link_is_not_found(log):
    assert Client().get("/auditor-access/al_not-a-real-link/").status_code == 404


def test_a_link_account_cannot_sign_in_with_a_password(link):
    client = Client()
    response = client.post("/accounts/login/", {"username": link.link.user.username, "password": ""})

    assert response.status_code == 200
    assert client.get("/events/").status_code == 302


def test_only_the_hash_of_a_link_is_stored(link):
    row = AuditorLink.objects.values().get(pk=link.link.pk)

    assert all(link.secret not in str(value) for value in row.values())
