"""`manage.py assign_role`: users, roles, project limits and teams from the command line."""
from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.events.ingest import event_ingest
from apps.events.models import Event
from apps.rbac.models import Role, RoleAssignment, Team
from tests.factories import ApiClient

pytestmark = pytest.mark.django_db


def assign(*args: str) -> str:
    out = StringIO()
    call_command("assign_role", *args, stdout=out)
    return out.getvalue()


def visible(username: str) -> set[str]:
    user = get_user_model().objects.get(username=username)
    return set(Event.objects.visible_to(user).values_list("event_id", flat=True))


def test_it_creates_a_missing_user_and_gives_the_role(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    output = assign("zoe", "Security Analyst", "--email", "zoe@example.com", "--password", "a-long-enough-passphrase-7")

    zoe = get_user_model().objects.get(username="zoe")
    assert output.strip() == "created zoe: Security Analyst"
    assert zoe.email == "zoe@example.com" and zoe.check_password("a-long-enough-passphrase-7")
    assert zoe.has_perm("rbac.export_events")


def test_a_user_created_without_a_password_cannot_sign_in_with_one():
    assign("yuri", "regular-user")

    assert not get_user_model().objects.get(username="yuri").has_usable_password()


def test_it_refuses_a_weak_password():
    with pytest.raises(CommandError, match="--password: This password is too short"):
        assign("weak", "regular-user", "--password", "short")
    assert not get_user_model().objects.filter(username="weak").exists()


def test_projects_limit_the_role():
    event_ingest([{"event_id": "p1", "action": "a.b", "project": "p1"}, {"event_id": "p2", "action": "a.b", "project": "p2"},
                  {"event_id": "p3", "action": "a.b", "project": "p3"}])

    assign("pia", "security-analyst", "--project", "p1", "--project", "p3")

    assert visible("pia") == {"p1", "p3"}


def test_assigning_again_replaces_the_limits_instead_of_adding_a_second_assignment():
    assign("pia", "security-analyst", "--project", "p1")
    assign("pia", "security_analyst", "--project", "p2")

    assert list(RoleAssignment.objects.filter(user__username="pia").values_list("projects", flat=True)) == [["p2"]]


def test_a_manager_sees_the_events_of_every_team_they_are_on():
    event_ingest([{"event_id": f"by-{name}", "action": "a.b", "actor": {"id": name}} for name in ("mia", "ned", "oli", "pam")])
    event_ingest([{"event_id": "by-ned-email", "action": "a.b", "actor": {"id": "x", "email": "Ned@Example.com"}}])

    assign("mia", "manager", "--team", "web")
    assign("mia", "manager", "--team", "data")
    assign("ned", "regular-user", "--team", "web", "--email", "ned@example.com")
    assign("oli", "regular-user", "--team", "data")
    assign("pam", "regular-user")

    assert sorted(Team.objects.values_list("name", flat=True)) == ["data", "web"]
    assert visible("mia") == {"by-mia", "by-ned", "by-ned-email", "by-oli"}
    assert visible("ned") == {"by-ned", "by-ned-email"}


def test_it_names_the_roles_when_the_role_is_unknown():
    with pytest.raises(CommandError, match="no role 'wizard'; use one of audit-administrator, security-analyst"):
        assign("zoe", "wizard")
    assert not get_user_model().objects.filter(username="zoe").exists()


def test_it_sends_external_auditors_to_links_and_tokens():
    with pytest.raises(CommandError, match="auditor link"):
        assign("ext", "external-auditor")


def test_issue_token_for_a_user_gives_a_token_that_sees_what_the_user_sees():
    event_ingest([{"event_id": "mine", "action": "a.b", "actor": {"id": "kim"}},
                  {"event_id": "theirs", "action": "a.b", "actor": {"id": "lee"}}])
    assign("kim", "regular-user")
    out = StringIO()
    call_command("issue_token", "--scope", "read", "--user", "kim", stdout=out, stderr=StringIO())

    response = ApiClient(out.getvalue().splitlines()[-1]).get("/api/v1/audit-logs")

    assert {e["event_id"] for e in response.json()["audit_logs"]} == {"mine"}


def test_the_built_in_roles_exist_after_migrating():
    assert list(Role.objects.order_by("position").values_list("name", flat=True)) == [
        "Audit Administrator", "Security Analyst", "Compliance Officer", "Manager", "Regular User", "External Auditor",
    ]
