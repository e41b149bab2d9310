"""The audit log of the audit log: the console records its own use into the same chain."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.events import chain
from apps.events import chain_verification
from apps.events.models import Event
from apps.rbac import audit_trail
from apps.rbac.models import ApiToken, AuditorLink, Role, RoleAssignment, Team
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient
from tests.personas import JANUARY, PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.audit_trail]

AGENT = "Mozilla/5.0 (audit-trail test)"
ADDRESS = "198.51.100.23"


def trail(action: str | None = None) -> list[Event]:
    events = Event.objects.filter(category="audit").order_by("seq")
    return list(events.filter(action=action) if action else events)


def only(action: str) -> Event:
    found = trail(action)
    assert len(found) == 1, [(e.action, e.outcome) for e in trail()]
    return found[0]


@pytest.fixture
def admin(browser_for, people) -> Client:
    client = browser_for("admin")
    client.defaults.update(HTTP_USER_AGENT=AGENT, REMOTE_ADDR=ADDRESS)
    return client


# --- reads of events ---------------------------------------------------------------------------


def test_listing_events_in_the_console_is_recorded_with_who_where_and_what(admin, log):
    admin.get("/events/", {"cursor": ""})

    event = only("audit.events.list")
    assert (event.category, event.outcome, event.actor_type, event.actor_id, event.actor_email) == \
        ("audit", "success", "user", "ada", "ada@example.com")
    assert event.ip_address == ADDRESS
    assert event.user_agent == AGENT
    assert event.metadata["returned"] == len(log)
    assert event.metadata["query"] == {"cursor": ""}
    assert event.session_id.startswith("sess_")
    assert event.request_method == "GET" and event.request_path == "/events/"


def test_opening_an_event_is_recorded_with_the_event_as_resource(admin, log):
    admin.get("/events/bob-p1/")

    event = only("audit.events.view")
    assert (event.outcome, event.resource_type, event.resource_id, event.actor_id) == ("success", "event", "bob-p1", "ada")


def test_asking_for_an_event_outside_the_scope_is_recorded_as_denied(browser_for, log):
    assert browser_for("regular").get("/events/bob-p1/").status_code == 404

    event = only("audit.events.view")
    assert (event.outcome, event.status_code, event.resource_id, event.actor_id) == ("denied", 404, "bob-p1", "alice")


def test_a_refused_page_is_recorded_as_denied(browser_for, log):
    assert browser_for("no_role").get("/events/").status_code == 403

    event = only("audit.events.list")
    assert (event.outcome, event.status_code, event.actor_id) == ("denied", 403, "nora")
    assert event.metadata["permission"] == "events.view_event"


def test_a_change_refused_for_want_of_permission_is_recorded_under_its_own_name(browser_for, people):
    response = browser_for("compliance").post("/access/assignments/create/", {
        "user": people["regular"].pk, "role": Role.objects.get(slug=Role.Slug.AUDIT_ADMINISTRATOR).pk,
    })

    assert response.status_code == 403
    event = only("rbac.role.assign")
    assert (event.outcome, event.actor_id, event.metadata["permission"]) == ("denied", "cora", "rbac.manage_roles")


def test_a_change_refused_by_separation_of_duties_is_recorded_with_the_reason(admin, people):
    admin.post("/access/assignments/create/", {
        "user": people["admin"].pk, "role": Role.objects.get(slug=Role.Slug.SECURITY_ANALYST).pk,
    })

    event = only("rbac.role.assign")
    assert (event.outcome, event.actor_id) == ("denied", "ada")
    assert "yourself" in event.metadata["reason"]
    assert event.metadata["attempt"]["user"] == "ada"


def test_api_reads_are_recorded_with_the_token_as_actor(log):
    issued = token_issue(scope="read", name="siem pull")
    api = ApiClient(issued.secret)

    api.get("/api/v1/audit-logs", {"limit": 2, "actor": "bob"})
    api.get("/api/v1/audit-logs/alice-p1")
    api.get("/api/v1/verify")

    listed, viewed, verified = only("audit.api.list"), only("audit.api.view"), only("audit.api.verify")
    for event in (listed, viewed, verified):
        assert (event.actor_type, event.actor_id, event.actor_name, event.auth_method) == \
            ("api_key", issued.token.prefix, "siem pull", "token")
    assert listed.metadata["query"] == {"limit": "2", "actor": "bob"}
    assert viewed.resource_id == "alice-p1"
    assert verified.metadata["valid"] is True


def test_an_api_read_outside_the_scope_is_recorded_as_denied(log):
    issued = token_issue(scope="auditor", window_start=JANUARY[0], window_end=JANUARY[1])

    assert ApiClient(issued.secret).get("/api/v1/audit-logs/bob-p1").status_code == 404

    event = only("audit.api.view")
    assert (event.outcome, event.actor_id, event.resource_id) == ("denied", issued.token.prefix, "bob-p1")


def test_a_token_used_outside_its_scope_is_recorded_as_denied(log):
    issued = token_issue(scope="ingest")

    assert ApiClient(issued.secret).get("/api/v1/audit-logs").status_code == 403

    event = only("audit.api.list")
    assert (event.outcome, event.status_code, event.actor_id) == ("denied", 403, issued.token.prefix)


def test_recording_a_read_does_not_record_another_read(admin, log):
    for _ in range(3):
        admin.get("/events/")

    assert len(trail("audit.events.list")) == 3
    assert len(trail()) == 3


def test_the_trail_is_shown_in_the_viewer_like_any_event(admin, log):
    admin.get("/events/alice-p1/")

    response = admin.get("/events/")

    listed = [event.action for event in response.context["page"].events]
    assert listed[0] == "audit.events.view"
    # Reading the trail is itself recorded.
    viewed = trail("audit.events.view")[0]
    admin.get(f"/events/{viewed.event_id}/")
    assert trail("audit.events.view")[-1].resource_id == viewed.event_id


def test_a_regular_user_sees_their_own_use_of_the_console_and_nobody_elses(admin, browser_for, people, log):
    admin.get("/events/")
    alice = browser_for("regular")
    alice.get("/events/")

    listed = {(e.action, e.actor_id) for e in alice.get("/events/").context["page"].events if e.category == "audit"}

    assert listed == {("audit.events.list", "alice")}


def test_the_chain_stays_valid_with_the_trail_in_it(admin, log):
    admin.get("/events/")
    admin.get("/events/alice-p1/")

    assert chain_verification.chain_verify().valid


# --- sign-in and sign-out ----------------------------------------------------------------------


def test_signing_in_and_out_is_recorded(fast_passwords, personas_with_passwords):
    client = Client(HTTP_USER_AGENT=AGENT, REMOTE_ADDR=ADDRESS)

    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    client.post("/accounts/logout/")

    login, logout = only("auth.login"), only("auth.logout")
    for event in (login, logout):
        assert (event.actor_id, event.actor_email, event.outcome, event.ip_address, event.user_agent) == \
            ("alice", "alice@example.com", "success", ADDRESS, AGENT)
    assert login.auth_method == "password"


def test_a_failed_sign_in_is_recorded_with_the_username_tried(fast_passwords, personas_with_passwords):
    Client(REMOTE_ADDR=ADDRESS).post("/accounts/login/", {"username": "alice", "password": "wrong"})

    event = only("auth.login.failed")
    assert (event.outcome, event.actor_id, event.ip_address, event.metadata["reason"]) == \
        ("failure", "alice", ADDRESS, "bad_credentials")
    # The password tried is never recorded.
    assert "wrong" not in str(event.metadata)


# --- changes of access -------------------------------------------------------------------------


def test_assigning_a_role_is_recorded_with_before_and_after(admin, people):
    alice = people["regular"]
    analyst = Role.objects.get(slug=Role.Slug.SECURITY_ANALYST)

    admin.post("/access/assignments/create/", {"user": alice.pk, "role": analyst.pk, "projects": "p1, p2"})
    admin.post("/access/assignments/create/", {"user": alice.pk, "role": analyst.pk, "projects": "p2"})

    first, second = trail("rbac.role.assign")
    assert (first.actor_id, first.ip_address, first.resource_id) == ("ada", ADDRESS, "alice:security-analyst")
    assert first.changes["before"] is None
    assert first.changes["after"]["projects"] == ["p1", "p2"]
    assert second.changes["before"]["projects"] == ["p1", "p2"]
    assert second.changes["after"]["projects"] == ["p2"]


def test_removing_a_role_is_recorded(admin, people):
    assignment = RoleAssignment.objects.get(user=people["regular"])

    admin.post(f"/access/assignments/{assignment.pk}/remove/")

    event = only("rbac.role.unassign")
    assert event.changes == {"before": {
        "user": "alice", "role": "regular-user", "projects": [], "teams": [],
        "window_start": None, "window_end": None, "expires_at": None,
    }, "after": None}


def test_creating_deactivating_and_reactivating_a_user_is_recorded(admin, people):
    admin.post("/access/users/create/", {"username": "newbie", "email": "newbie@example.com"})
    newbie = get_user_model().objects.get(username="newbie")
    admin.post(f"/access/users/{newbie.pk}/deactivate/")
    admin.post(f"/access/users/{newbie.pk}/reactivate/")

    created, deactivated, reactivated = (only("rbac.user.create"), only("rbac.user.deactivate"),
                                         only("rbac.user.reactivate"))
    assert created.changes["after"] == {"username": "newbie", "email": "newbie@example.com", "name": "",
                                        "is_active": True, "invited": True}
    assert deactivated.changes["after"]["is_active"] is False
    assert reactivated.changes["after"]["is_active"] is True
    assert {created.actor_id, deactivated.actor_id, reactivated.actor_id} == {"ada"}


def test_team_changes_are_recorded(admin, people):
    admin.post("/access/teams/create/", {"name": "platform"})
    team = Team.objects.get(name="platform")
    admin.post(f"/access/teams/{team.pk}/members/", {"user": people["bob"].pk})
    admin.post(f"/access/teams/{team.pk}/members/{people['bob'].pk}/remove/")

    assert only("rbac.team.create").resource_name == "platform"
    assert only("rbac.team.member.add").changes == {"before": {"members": []}, "after": {"members": ["bob"]}}
    assert only("rbac.team.member.remove").changes == {"before": {"members": ["bob"]}, "after": {"members": []}}


def test_issuing_and_revoking_a_token_is_recorded_without_its_secret(admin, people):
    response = admin.post("/access/tokens/issue/", {"name": "etl", "scope": "read", "user": people["analyst"].pk,
                                                     "expires_in": "7d"})
    secret = response.context["issued"].secret
    token = ApiToken.objects.get(name="etl")
    admin.post(f"/access/tokens/{token.pk}/revoke/")

    issued, revoked = only("rbac.token.issue"), only("rbac.token.revoke")
    assert issued.resource_id == token.prefix and issued.actor_id == "ada"
    assert issued.changes["after"]["user"] == "sam"
    assert revoked.changes["after"]["revoked_at"] is not None
    for event in (issued, revoked):
        assert secret not in str(event.changes) + str(event.metadata) + event.description


def test_auditor_links_are_recorded_from_creation_to_use_to_revocation(admin, log):
    response = admin.post("/access/auditor-links/create/", {
        "label": "EY ISO 27001", "window_start": "2026-01-01", "window_end": "2026-01-31", "expires_in": "7d",
    })
    url = response.context["link_url"]
    auditor = Client(REMOTE_ADDR="203.0.113.9")
    auditor.post(url.replace("http://testserver", ""))
    auditor.get("/events/")
    link = AuditorLink.objects.get()
    admin.post(f"/access/auditor-links/{link.pk}/revoke/")

    created, revoked = only("rbac.auditor_link.create"), only("rbac.auditor_link.revoke")
    signed_in = only("auth.login")
    listed = only("audit.events.list")
    assert created.changes["after"]["window_start"] == "2026-01-01T00:00:00+00:00"
    assert (signed_in.actor_id, signed_in.auth_method, signed_in.ip_address) == (link.user.username, "token", "203.0.113.9")
    assert listed.actor_id == link.user.username and listed.metadata["returned"] == 2
    assert revoked.actor_id == "ada"


def test_a_change_made_from_the_command_line_names_the_command_as_actor(db):
    from django.core.management import call_command
    from io import StringIO

    call_command("assign_role", "zoe", "regular-user", "--email", "zoe@example.com", stdout=StringIO())

    assigned = only("rbac.role.assign")
    assert (assigned.actor_type, assigned.actor_id) == ("system", "manage.py assign_role")
    assert only("rbac.user.create").resource_id == "zoe"


def test_a_change_and_its_record_commit_together(admin, people, monkeypatch):
    def broken(events, **kwargs):
        raise RuntimeError("the log is unavailable")

    monkeypatch.setattr(audit_trail, "chain_append", broken)
    client = admin
    client.raise_request_exception = False

    response = client.post("/access/teams/create/", {"name": "ghost"})

    assert response.status_code == 500
    assert not Team.objects.filter(name="ghost").exists()


def test_recording_can_be_called_with_a_principal_outside_a_request(people):
    audit_trail.audit_record(principal=people["compliance"], action="audit.reports.generate",
                             metadata={"framework": "soc2"})

    event = only("audit.reports.generate")
    assert (event.actor_id, event.actor_type, event.category, event.metadata["framework"]) == \
        ("cora", "user", "audit", "soc2")


def test_a_request_without_a_usable_token_is_refused_and_not_recorded(db):
    # Nobody can be named as its actor, and anyone could send such requests by the million.
    assert ApiClient("ac_not-a-token").get("/api/v1/audit-logs").status_code == 401

    assert trail() == []
