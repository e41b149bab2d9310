"""Every role against every page and API call: 200, 403 or 404, and exactly the events it may see."""
from __future__ import annotations

import pytest

from apps.events.models import Event
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient
from tests.personas import EVERYTHING, LOG, PERSONAS, VISIBLE

pytestmark = pytest.mark.django_db

ACCESS_READERS = {"admin", "compliance"}
ACCESS_PAGES = ["/access/users/", "/access/roles/", "/access/assignments/", "/access/teams/", "/access/tokens/",
                "/access/auditor-links/"]
# Each change of access with a valid body; only the Audit Administrator may make them.
ACCESS_CHANGES = [
    ("/access/users/create/", {"username": "newcomer", "email": "newcomer@example.com"}),
    ("/access/teams/create/", {"name": "platform"}),
    ("/access/tokens/issue/", {"name": "ci", "scope": "ingest", "expires_in": "1d"}),
    ("/access/auditor-links/create/", {"label": "Audit firm", "window_start": "2026-01-01",
                                       "window_end": "2026-01-31", "expires_in": "7d"}),
]


def listed_ids(response) -> set[str]:
    return {event.event_id for event in response.context["page"].events}


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_event_list_holds_exactly_the_events_the_role_may_see(persona, browser_for, log):
    response = browser_for(persona).get("/events/")

    if persona == "no_role":
        assert response.status_code == 403
        assert b"no role yet" in response.content
    else:
        assert response.status_code == 200
        assert listed_ids(response) == VISIBLE[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_an_event_page_opens_inside_the_scope_and_is_not_found_outside_it(persona, browser_for, log):
    client = browser_for(persona)

    statuses = {event_id: client.get(f"/events/{event_id}/").status_code for event_id in LOG}

    if persona == "no_role":
        assert set(statuses.values()) == {403}
    else:
        assert statuses == {event_id: 200 if event_id in VISIBLE[persona] else 404 for event_id in LOG}


@pytest.mark.parametrize("persona", PERSONAS)
def test_an_unknown_event_looks_the_same_as_one_outside_the_scope(persona, browser_for, log):
    assert browser_for(persona).get("/events/no-such-event/").status_code == (403 if persona == "no_role" else 404)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("path", ACCESS_PAGES)
def test_the_access_pages_open_for_administrators_and_compliance_officers_only(persona, path, browser_for):
    expected = 200 if persona in ACCESS_READERS else 403
    assert browser_for(persona).get(path).status_code == expected


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("path, body", ACCESS_CHANGES, ids=[path for path, _ in ACCESS_CHANGES])
def test_only_an_audit_administrator_changes_access(persona, path, body, browser_for):
    response = browser_for(persona).post(path, body)

    if persona == "admin":
        assert response.status_code in (200, 302), response.content[:400]
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_access_item_of_the_menu_shows_only_to_those_who_may_open_it(persona, browser_for):
    response = browser_for(persona).get("/access/roles/" if persona in ACCESS_READERS else "/accounts/login/", follow=True)
    has_item = b'href="/access/users/"' in response.content
    assert has_item == (persona in ACCESS_READERS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_read_token_for_a_user_lists_and_opens_exactly_what_the_user_sees(persona, people, log):
    api = ApiClient(token_issue(scope="read", user=people[persona]).secret)

    listed = api.get("/api/v1/audit-logs", {"limit": 100})
    statuses = {event_id: api.get(f"/api/v1/audit-logs/{event_id}").status_code for event_id in LOG}

    assert listed.status_code == 200
    assert {log["event_id"] for log in listed.json()["audit_logs"]} == VISIBLE[persona]
    assert listed.json()["total_count"] == len(VISIBLE[persona])
    assert statuses == {event_id: 200 if event_id in VISIBLE[persona] else 404 for event_id in LOG}


@pytest.mark.parametrize("persona", PERSONAS)
def test_visible_to_is_the_same_rule_for_a_user_and_their_token(persona, people, log):
    user = people[persona]
    token = token_issue(scope="read", user=user).token

    as_user = set(Event.objects.visible_to(user).values_list("event_id", flat=True))
    as_token = set(Event.objects.visible_to(token).values_list("event_id", flat=True))

    assert as_user == as_token == VISIBLE[persona]


def test_a_read_token_without_a_user_sees_every_event(log):
    api = ApiClient(token_issue(scope="read").secret)

    assert {e["event_id"] for e in api.get("/api/v1/audit-logs", {"limit": 100}).json()["audit_logs"]} == EVERYTHING


def test_a_read_token_limited_to_a_project_narrows_what_its_user_sees(people, log):
    api = ApiClient(token_issue(scope="read", user=people["manager"], projects=["p2"]).secret)

    ids = {e["event_id"] for e in api.get("/api/v1/audit-logs", {"limit": 100}).json()["audit_logs"]}

    assert ids == {"alice-by-email-p2", "max-p2"}


@pytest.mark.parametrize("path", ["/api/v1/audit-logs", "/api/v1/audit-logs/alice-p1", "/api/v1/verify"])
def test_an_ingest_token_may_not_read(path, log):
    assert ApiClient(token_issue(scope="ingest").secret).get(path).status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/audit-logs", "/api/v1/audit-logs/alice-p1", "/api/v1/verify"])
def test_the_read_api_refuses_a_request_without_a_token(path, log):
    assert ApiClient().get(path).status_code == 401


def test_a_user_without_a_role_sees_nothing_even_their_own_events(people, log, browser_for):
    nora = people["no_role"]
    from apps.events.ingest import event_ingest
    event_ingest([{"event_id": "nora-own", "action": "a.b", "actor": {"id": "nora"}}])

    assert not Event.objects.visible_to(nora).exists()
    assert browser_for("no_role").get("/events/nora-own/").status_code == 403


def test_a_deactivated_user_sees_nothing(people, log):
    analyst = people["analyst"]
    analyst.is_active = False
    analyst.save()

    assert not Event.objects.visible_to(analyst).exists()


def test_an_expired_assignment_no_longer_counts(people, log):
    from django.utils import timezone
    from apps.rbac.models import RoleAssignment

    RoleAssignment.objects.filter(user=people["analyst"]).update(expires_at=timezone.now())
    analyst = type(people["analyst"]).objects.get(pk=people["analyst"].pk)

    assert not Event.objects.visible_to(analyst).exists()
    assert not analyst.has_perm("events.view_event")


def test_the_regular_users_match_ignores_case_of_username_and_email(people, log):
    from apps.events.ingest import event_ingest
    event_ingest([{"event_id": "ALICE-upper", "action": "a.b", "actor": {"id": "ALICE"}},
                  {"event_id": "alice-mixed-email", "action": "a.b", "actor": {"id": "x", "email": "Alice@Example.COM"}}])

    ids = set(Event.objects.visible_to(people["regular"]).values_list("event_id", flat=True))

    assert {"ALICE-upper", "alice-mixed-email"} <= ids


def test_a_managers_list_follows_team_membership(people, log, browser_for):
    from apps.rbac.models import Team

    Team.objects.get(name="payments").members.remove(people["bob"])

    assert listed_ids(browser_for("manager").get("/events/")) == VISIBLE["manager"] - {"bob-p1"}


def test_a_persona_with_two_roles_sees_the_union(people, log):
    from tests.factories import give_role
    from apps.rbac.models import Role

    give_role(people["regular"], Role.Slug.SECURITY_ANALYST, projects=["p1"])
    alice = type(people["regular"]).objects.get(pk=people["regular"].pk)

    ids = set(Event.objects.visible_to(alice).values_list("event_id", flat=True))

    assert ids == VISIBLE["regular"] | VISIBLE["analyst_p1"]


def test_the_event_list_reads_scope_in_a_bounded_number_of_queries(browser_for, log, django_assert_max_num_queries):
    client = browser_for("manager")
    # However many people the team has: session, user, assignments, preferences, teams, members,
    # the count (branch by branch, then the team's OR when two members both have a few events),
    # the page, the search's span, histogram and facets, the no-team note's check of the teams,
    # saved queries and the session's save.
    with django_assert_max_num_queries(17):
        assert client.get("/events/").status_code == 200


def test_a_user_with_a_view_all_role_and_an_own_events_role_sees_everything(people, log):
    from django.contrib.auth import get_user_model

    from apps.rbac.models import Role
    from tests.factories import give_role

    give_role(people["regular"], Role.Slug.SECURITY_ANALYST)
    user = get_user_model().objects.get(pk=people["regular"].pk)
    seen = set(Event.objects.visible_to(user).values_list("event_id", flat=True))
    assert seen == EVERYTHING
