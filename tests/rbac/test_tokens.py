"""API tokens: issuing and revoking them from the command line, and what each token may see."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone as django_timezone

from apps.rbac.models import ApiToken
from apps.rbac.tokens import parse_duration, token_authenticate, token_issue
from tests.factories import ApiClient

EVENTS = "/api/v1/events"
LOGS = "/api/v1/audit-logs"

pytestmark = pytest.mark.django_db


def issue(*args: str) -> str:
    """Run `manage.py issue_token ARGS` and return the secret from the last line of stdout."""
    out, err = StringIO(), StringIO()
    call_command("issue_token", *args, stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert lines, err.getvalue()
    return lines[-1]


def revoke(token: str) -> str:
    out = StringIO()
    call_command("revoke_token", token, stdout=out)
    return out.getvalue()


def visible_ids(secret: str) -> set[str]:
    response = ApiClient(secret).get(LOGS, {"limit": 1000})
    assert response.status_code == 200, response.content
    return {log["event_id"] for log in response.json()["audit_logs"]}


def expire(secret: str) -> None:
    ApiToken.objects.filter(key_hash=hashlib.sha256(secret.encode()).hexdigest()).update(
        expires_at=django_timezone.now() - timedelta(seconds=1)
    )


# --- issue_token -------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["ingest", "read"])
def test_issue_token_prints_the_secret_alone_on_the_last_line(scope):
    out = StringIO()

    call_command("issue_token", "--scope", scope, stdout=out, stderr=StringIO())

    last = out.getvalue().splitlines()[-1]
    assert last.startswith("ac_")
    assert last == last.strip() and " " not in last
    assert token_authenticate(last).scope == scope


def test_an_issued_ingest_token_can_send_events_and_a_read_token_can_read_them():
    ingest_secret, read_secret = issue("--scope", "ingest"), issue("--scope", "read")

    assert ApiClient(ingest_secret).post(EVENTS, {"event_id": "via-cli", "action": "auth.login"}).status_code == 202
    assert visible_ids(read_secret) == {"via-cli"}


def test_the_database_stores_only_a_hash_of_the_secret():
    secret = issue("--scope", "read", "--name", "ci")

    row = ApiToken.objects.values().get()
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    for column, value in row.items():
        assert secret not in str(value), column
    # The prefix shown to recognise a token is too short to use as one.
    assert len(row["prefix"]) < len(secret) // 3


def test_each_token_gets_its_own_secret():
    assert len({issue("--scope", "ingest") for _ in range(3)}) == 3


def test_issue_token_refuses_an_auditor_token_without_a_window():
    with pytest.raises(CommandError, match="window"):
        issue("--scope", "auditor")
    with pytest.raises(CommandError):
        issue("--scope", "auditor", "--start", "2026-01-01")
    assert not ApiToken.objects.exists()


def test_issue_token_refuses_a_window_that_ends_before_it_starts():
    with pytest.raises(CommandError):
        issue("--scope", "auditor", "--start", "2026-02-01", "--end", "2026-01-01")


def test_issue_token_refuses_a_date_it_cannot_read():
    with pytest.raises(CommandError, match="--start"):
        issue("--scope", "auditor", "--start", "soon", "--end", "2026-01-01")


def test_issue_token_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="nobody"):
        issue("--scope", "read", "--user", "nobody")
    assert not ApiToken.objects.exists()


def test_issue_token_refuses_an_unknown_scope():
    with pytest.raises(CommandError):
        issue("--scope", "admin")


@pytest.mark.parametrize("duration", ["forever", "0d", "30", "-1h", "1y"])
def test_issue_token_refuses_a_lifetime_it_cannot_read(duration):
    with pytest.raises(CommandError):
        issue("--scope", "read", "--expires-in", duration)


@pytest.mark.parametrize(("duration", "lifetime"), [("30d", timedelta(days=30)), ("1h", timedelta(hours=1)), ("5s", timedelta(seconds=5))])
def test_issue_token_sets_the_expiry_from_expires_in(duration, lifetime):
    before = django_timezone.now()

    issue("--scope", "read", "--expires-in", duration)

    expires_at = ApiToken.objects.get().expires_at
    assert before + lifetime <= expires_at <= django_timezone.now() + lifetime


def test_a_token_without_expires_in_does_not_expire():
    issue("--scope", "read")

    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize(("text", "delta"), [
    ("30d", timedelta(days=30)), ("1h", timedelta(hours=1)), ("5s", timedelta(seconds=5)),
    ("15m", timedelta(minutes=15)), ("2w", timedelta(weeks=2)), (" 3 d ", timedelta(days=3)),
])
def test_parse_duration_reads_a_number_and_a_unit(text, delta):
    assert parse_duration(text) == delta


# --- tokens that no longer work ----------------------------------------------------------------


def test_an_expired_token_is_refused_with_401():
    secret = issue("--scope", "ingest", "--expires-in", "1s")
    assert ApiClient(secret).post(EVENTS, {"action": "auth.login"}).status_code == 202

    expire(secret)

    assert ApiClient(secret).post(EVENTS, {"action": "auth.login"}).status_code == 401
    assert ApiClient(secret).get(LOGS).status_code == 401


def test_an_expired_read_token_is_refused_with_401():
    secret = issue("--scope", "read", "--expires-in", "30d")
    expire(secret)

    assert ApiClient(secret).get(LOGS).status_code == 401


def test_a_revoked_token_is_refused_with_401():
    secret = issue("--scope", "read")
    assert ApiClient(secret).get(LOGS).status_code == 200

    revoke(secret)

    assert ApiClient(secret).get(LOGS).status_code == 401
    assert ApiToken.objects.get().revoked_at is not None


def test_a_token_can_be_revoked_by_its_prefix():
    secret = issue("--scope", "read")

    revoke(ApiToken.objects.get().prefix)

    assert ApiClient(secret).get(LOGS).status_code == 401


def test_revoke_token_refuses_a_token_it_does_not_know():
    issue("--scope", "read")

    with pytest.raises(CommandError):
        revoke("ac_unknown")
    assert ApiToken.objects.get().revoked_at is None


def test_revoke_token_does_not_revoke_another_token_that_shares_the_mistyped_secrets_prefix():
    secret = issue("--scope", "read")
    mistyped = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")

    with pytest.raises(CommandError):
        revoke(mistyped)
    assert ApiClient(secret).get(LOGS).status_code == 200


def test_a_token_of_a_deactivated_user_is_refused_with_401(people):
    secret = issue("--scope", "read", "--user", "alice")
    get_user_model().objects.filter(pk=people["regular"].pk).update(is_active=False)

    assert ApiClient(secret).get(LOGS).status_code == 401


def test_using_a_token_records_when_it_was_last_used():
    secret = issue("--scope", "read")
    assert ApiToken.objects.get().last_used_at is None

    ApiClient(secret).get(LOGS)

    assert ApiToken.objects.get().last_used_at is not None


# --- what a token sees -------------------------------------------------------------------------


@pytest.fixture
def project_events(ingest):
    ingest({"event_id": "p1-a", "action": "auth.login", "project": "p1"},
           {"event_id": "p1-b", "action": "auth.login", "project": "p1"},
           {"event_id": "p2-a", "action": "auth.login", "project": "p2"},
           {"event_id": "none", "action": "auth.login"})


def test_an_unlimited_read_token_sees_every_project(project_events, read_token):
    assert visible_ids(read_token) == {"p1-a", "p1-b", "p2-a", "none"}


def test_a_read_token_limited_to_a_project_sees_only_that_projects_events(project_events):
    secret = token_issue(scope="read", projects=["p1"]).secret

    assert visible_ids(secret) == {"p1-a", "p1-b"}
    assert ApiClient(secret).get(f"{LOGS}/p1-a").status_code == 200
    assert ApiClient(secret).get(f"{LOGS}/p2-a").status_code == 404
    assert ApiClient(secret).get(f"{LOGS}/none").status_code == 404
    assert ApiClient(secret).get(LOGS).json()["total_count"] == 2


def test_issue_token_limits_a_token_to_the_projects_given(project_events):
    secret = issue("--scope", "read", "--project", "p1", "--project", "p2")

    assert visible_ids(secret) == {"p1-a", "p1-b", "p2-a"}


@pytest.fixture
def january_events(ingest):
    ingest({"event_id": "dec", "action": "auth.login", "timestamp": "2025-12-31T23:59:59Z"},
           {"event_id": "jan-first", "action": "auth.login", "timestamp": "2026-01-01T00:00:00Z"},
           {"event_id": "jan-mid", "action": "auth.login", "timestamp": "2026-01-15T12:00:00Z"},
           {"event_id": "feb", "action": "auth.login", "timestamp": "2026-02-01T00:00:00Z"})


def test_an_auditor_token_sees_only_events_inside_its_window(january_events):
    secret = token_issue(scope="auditor", window_start=datetime(2026, 1, 1, tzinfo=timezone.utc),
                         window_end=datetime(2026, 2, 1, tzinfo=timezone.utc)).secret

    assert visible_ids(secret) == {"jan-first", "jan-mid"}
    assert ApiClient(secret).get(f"{LOGS}/jan-mid").status_code == 200
    assert ApiClient(secret).get(f"{LOGS}/dec").status_code == 404
    assert ApiClient(secret).get(f"{LOGS}/feb").status_code == 404


def test_issue_token_makes_an_auditor_token_for_the_window_given(january_events):
    secret = issue("--scope", "auditor", "--start", "2026-01-10T00:00:00Z", "--end", "2026-01-20T00:00:00+00:00")

    assert visible_ids(secret) == {"jan-mid"}
    assert ApiClient(secret).post(EVENTS, {"action": "auth.login"}).status_code == 403


def test_an_expired_auditor_token_is_refused_with_401(january_events):
    secret = issue("--scope", "auditor", "--start", "2026-01-01", "--end", "2026-02-01", "--expires-in", "1h")
    expire(secret)

    assert ApiClient(secret).get(LOGS).status_code == 401


@pytest.fixture
def actor_events(ingest):
    """Events of alice (by id, and by email in another case), of bob, and of the system."""
    ingest({"event_id": "by-id", "action": "auth.login", "actor": {"id": "alice"}},
           {"event_id": "by-email", "action": "auth.login", "actor": {"id": "usr_123", "email": "Alice@Example.com"}},
           {"event_id": "by-bob", "action": "auth.login", "actor": {"id": "bob", "email": "bob@example.com"}},
           {"event_id": "by-system", "action": "system.backup", "actor": {"type": "system"}})


def test_a_read_token_for_a_user_sees_only_that_users_events(actor_events, people):
    secret = issue("--scope", "read", "--user", "alice")

    assert visible_ids(secret) == {"by-id", "by-email"}
    assert ApiClient(secret).get(f"{LOGS}/by-bob").status_code == 404


def test_a_read_token_for_a_superuser_sees_every_event(actor_events, superuser):
    secret = issue("--scope", "read", "--user", "root")

    assert visible_ids(secret) == {"by-id", "by-email", "by-bob", "by-system"}


def test_a_user_token_limited_to_a_project_sees_the_users_events_in_that_project(ingest, people):
    ingest({"event_id": "alice-p1", "action": "a.b", "actor": {"id": "alice"}, "project": "p1"},
           {"event_id": "alice-p2", "action": "a.b", "actor": {"id": "alice"}, "project": "p2"},
           {"event_id": "bob-p1", "action": "a.b", "actor": {"id": "bob"}, "project": "p1"})

    secret = issue("--scope", "read", "--user", "alice", "--project", "p1")

    assert visible_ids(secret) == {"alice-p1"}


def test_a_token_of_one_scope_is_refused_with_403_where_another_scope_is_needed(ingest_token, read_token):
    assert ApiClient(ingest_token).get(LOGS).status_code == 403
    assert ApiClient(read_token).post(EVENTS, {"action": "auth.login"}).status_code == 403
