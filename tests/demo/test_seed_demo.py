"""seed_demo and bootstrap_demo: realistic events, stories an analyst can find, a valid chain."""
from __future__ import annotations

import io
import os
import stat
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.db.models.functions import Trunc

from apps.events.chain import CONTENT_FIELDS
from apps.events.chain_verification import chain_verify
from apps.demo.generator import demo_seed
from apps.demo.generator import seed as seed_module
from apps.demo.generator.bulk import indexes_drop, indexes_pending
from apps.events.models import Event, RollupBucket
from apps.events.rollups import rollup_state
from apps.events.query import parse_query
from apps.events.schema import CATEGORIES, normalize_event
from apps.rbac.tokens import token_authenticate
from tests.factories import owner_login

END = datetime(2026, 3, 10, 14, 30, 12, 345678, tzinfo=timezone.utc)
N = 2_000


@pytest.fixture
def seeded(db):
    return demo_seed(events=N, days=14, seed=42, end=END)


def story(result, key):
    return next(s for s in result.stories if s.key == key)


def test_it_appends_exactly_the_requested_number_of_events(seeded):
    assert seeded.created == N
    assert seeded.duplicates == 0
    assert (seeded.first_seq, seeded.last_seq) == (1, N)
    assert Event.objects.count() == N


def test_the_chain_verifies_and_follows_time(seeded):
    result = chain_verify()
    assert result.valid, result.reason
    assert result.checked == N
    times = list(Event.objects.order_by("seq").values_list("occurred_at", flat=True))
    assert times == sorted(times)
    assert END - timedelta(days=14) <= times[0] and times[-1] <= END


def test_every_event_is_what_ingest_would_store(seeded):
    # The generator skips normalize_event for speed; what it makes must be what ingest makes.
    for row in Event.objects.values(*(name for name in CONTENT_FIELDS if name not in ("seq", "received_at"))):
        raw = dict(row, occurred_at=row["occurred_at"].isoformat())
        assert normalize_event(raw) == row, row["event_id"]


def test_events_have_realistic_fields(seeded):
    events = Event.objects.all()
    assert {e.category for e in events} <= CATEGORIES
    assert {"auth", "iam", "compute", "network", "storage", "billing", "config", "data"} <= {e.category for e in events}
    assert {e.actor_type for e in events} == {"user", "service", "system"}
    assert events.filter(actor_type="service", auth_method="token").exists()
    assert events.filter(actor_type="system", auth_method="system").exists()
    assert events.values("actor_id").distinct().count() > 30
    outcomes = dict(events.values_list("outcome").annotate(n=Count("seq")))
    assert outcomes["success"] > 0.9 * N and {"failure", "denied"} <= set(outcomes)
    assert events.filter(metadata__resource__tags__Environment="production").count() > N / 4
    assert Event.objects.filter(parse_query("resource.tags.Environment:production AND action:compute.*")).exists()
    api = events.exclude(request_method="")
    assert api.count() > 0.8 * N and not api.filter(status_code__isnull=True).exists()
    mutation = events.filter(action="config.settings.update", outcome="success").first()
    assert set(mutation.changes) == {"before", "after"}
    # Related events share a trace id (a server and its boot volume, an automation run).
    shared = events.exclude(trace_id="").values("trace_id").annotate(n=Count("seq")).filter(n__gt=1)
    assert shared.count() > 20
    assert all(e.event_id.startswith("evt_") and len(e.event_id) == 30 for e in events)


def test_the_brute_force_is_many_failures_from_one_address_then_a_success_from_another(seeded):
    failures = Event.objects.filter(action="auth.login", outcome="failure", auth_method="password")
    worst = failures.values("ip_address", "actor_email").annotate(n=Count("seq")).order_by("-n").first()
    assert worst["n"] >= 20
    run = failures.filter(ip_address=worst["ip_address"]).order_by("seq")
    assert run.last().occurred_at - run.first().occurred_at < timedelta(minutes=10)
    success = Event.objects.filter(action="auth.login", outcome="success", actor_email=worst["actor_email"],
                                   seq__gt=run.last().seq).order_by("seq").first()
    assert success is not None and success.ip_address != worst["ip_address"]
    assert success.occurred_at - run.last().occurred_at < timedelta(minutes=15)
    assert success.ip_address not in set(
        Event.objects.filter(actor_email=worst["actor_email"], seq__lt=run.first().seq).values_list("ip_address", flat=True)
    )


def test_the_privilege_escalation_is_a_user_granting_themselves_admin(seeded):
    grants = [e for e in Event.objects.filter(action="iam.role.update", outcome="success", severity="high")
              if e.actor_id == e.resource_id]
    assert len(grants) == 1
    changes = grants[0].changes
    assert "admin" in changes["after"]["roles"] and "admin" not in changes["before"]["roles"]


def test_the_off_hours_admin_work_happens_at_three_in_the_morning_local_time(seeded):
    night = story(seeded, "off_hours_admin")
    changes = Event.objects.filter(actor_email=night.actor, category__in=["config", "iam"], severity="high")
    local_hours = {e.occurred_at.astimezone(ZoneInfo(night.tz)).hour for e in changes}
    assert local_hours == {3}
    assert changes.filter(action="config.settings.update").count() == 2


def test_the_creation_burst_is_dozens_of_servers_within_minutes(seeded):
    burst = story(seeded, "creation_burst")
    creates = Event.objects.filter(action="compute.servers.create", actor_email=burst.actor,
                                   occurred_at__range=(burst.start, burst.end))
    assert creates.count() >= 36
    assert burst.end - burst.start < timedelta(minutes=10)


def test_the_firewall_opened_to_the_world_is_critical(seeded):
    opened = Event.objects.filter(action="firewall.rule.update", severity="critical",
                                  changes__after__cidr="0.0.0.0/0", changes__after__port=22)
    assert opened.count() == 1
    assert opened.get().category == "network"
    assert Event.objects.filter(parse_query('action:firewall.rule.update AND changes.after.cidr:"0.0.0.0/0" '
                                            'AND severity:critical')).count() == 1


def test_each_story_is_found_by_its_query_and_placed_recently(seeded):
    assert {s.key for s in seeded.stories} == {
        "brute_force", "privilege_escalation", "off_hours_admin", "creation_burst", "firewall_opened", "seed_examples",
    }
    for s in seeded.stories:
        found = set(Event.objects.filter(parse_query(s.find, now=END)).values_list("event_id", flat=True))
        assert set(s.event_ids) <= found, s.key
        assert len(found) < 3 * len(s.event_ids) + 10, s.key
        assert END - timedelta(days=5) < s.start < s.end <= END
        assert s.seqs is not None


def test_a_one_day_window_still_holds_every_story(db):
    result = demo_seed(events=600, days=1, seed=3, end=END)
    times = list(Event.objects.order_by("seq").values_list("occurred_at", flat=True))
    assert len(times) == 600 and times == sorted(times)
    assert END - timedelta(days=1) <= times[0] and times[-1] <= END
    assert all(END - timedelta(days=1) <= s.start for s in result.stories)
    assert chain_verify().valid


def test_the_same_seed_and_end_give_the_same_events(db, monkeypatch):
    runs = []
    for seed in (7, 7, 8):
        batches = []
        monkeypatch.setattr(seed_module, "chain_append", lambda batch, **_: batches.append(batch) or [])
        demo_seed(events=500, days=3, seed=seed, end=END)
        runs.append([event for batch in batches for event in batch])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert len(runs[0]) == 500 and len({e["event_id"] for e in runs[0]}) == 500


def test_seeding_again_appends_after_the_existing_chain(seeded):
    again = demo_seed(events=400, days=2, seed=42, end=END + timedelta(hours=1))
    assert (again.created, again.duplicates) == (400, 0)
    assert (again.first_seq, again.last_seq) == (N + 1, N + 400)
    out = io.StringIO()
    call_command("seed_demo", "--events", "300", "--days", "1", "--seed", "5", stdout=out)
    assert "Seeded 300 events" in out.getvalue()
    assert "Brute force" in out.getvalue() and "find: " in out.getvalue()
    result = chain_verify()
    assert result.valid, result.reason
    assert result.checked == N + 700


def test_it_refuses_fewer_events_than_the_stories_need(db):
    with pytest.raises(CommandError, match="at least"):
        call_command("seed_demo", "--events", "10", stdout=io.StringIO())
    assert not Event.objects.exists()


# --- bulk loads --------------------------------------------------------------------------------


def event_indexes() -> dict[str, tuple[str, bool]]:
    """Every index of audit_event: its definition and whether PostgreSQL holds it valid."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, pg_get_indexdef(x.indexrelid), x.indisvalid AND x.indisready "
                       "FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
                       "WHERE x.indrelid = 'audit_event'::regclass")
        return {name: (definition, valid) for name, definition, valid in cursor.fetchall()}


def rollups_match_the_table() -> None:
    """The rollups count every stored event, by day, action and resource, as the table does."""
    assert rollup_state()[0] == rollup_state()[1]
    for dimension, column in (("all", None), ("action", "action"), ("resource", "resource_id")):
        counted = Counter()
        for bucket in RollupBucket.objects.filter(granularity="day", dimension=dimension):
            counted[(bucket.bucket_start, bucket.value)] += bucket.count
        stored = Counter()
        rows = Event.objects.annotate(day=Trunc("occurred_at", "day", tzinfo=timezone.utc))
        for row in rows.values("day", *([column] if column else [])).annotate(n=Count("seq")):
            value = row[column] if column else ""
            if value != "" or dimension == "all":
                stored[(row["day"], value)] += row["n"]
        assert counted == stored, dimension


def test_a_bulk_load_builds_every_index_again_and_leaves_the_chain_and_rollups_exact(db):
    before = event_indexes()
    assert "event_search_trgm" in before
    with owner_login():  # only the owner may drop and build the indexes
        result = demo_seed(events=1500, days=7, seed=11, end=END, bulk=True)
    assert result.created == 1500 and result.indexes is not None
    # The trigram index is kept and fed during the load; the others but the unique ones go.
    assert "event_search_trgm" in result.indexes.kept and "event_search_trgm" not in result.indexes.dropped
    assert "event_tags" in result.indexes.dropped and "audit_event_pkey" not in result.indexes.dropped
    assert event_indexes() == before
    assert indexes_pending() == []
    assert chain_verify().valid
    rollups_match_the_table()
    # The rebuilt trigram index answers free text (the planner is made to use it).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    burst = story(result, "creation_burst")
    assert Event.objects.filter(parse_query(f'"{burst.actor}" AND action:compute.servers.create', now=END)).count() >= 36


@pytest.mark.django_db(transaction=True)
def test_a_bulk_load_in_threads_counts_the_rollups_beside_the_load_and_builds_the_indexes_after():
    before = event_indexes()
    lines = []
    with owner_login():  # only the owner may drop and build the indexes
        result = demo_seed(events=6000, days=10, seed=12, end=END, bulk=True, batch_size=1000, log=lines.append)
    assert result.created == 6000
    after = event_indexes()
    assert after == before and all(valid for _, valid in after.values())
    assert indexes_pending() == []
    assert any("event_search_trgm kept during the load" in line for line in lines)
    assert any("event_actor_id_time built" in line for line in lines)
    verification = chain_verify()
    assert verification.valid and verification.checked == 6000
    rollups_match_the_table()


def test_indexes_a_killed_bulk_load_left_dropped_are_built_by_the_next_seed(db):
    before = event_indexes()
    with owner_login():
        dropped = indexes_drop()  # as if the load had been killed right after dropping them
        assert "event_search_trgm" in dropped and "event_search_trgm" not in event_indexes()
        assert {name for name, _ in indexes_pending()} == set(dropped)
        demo_seed(events=400, days=2, seed=13, end=END)
    assert event_indexes() == before
    assert indexes_pending() == []


def test_a_bulk_load_asked_of_the_consoles_role_is_refused_and_says_to_run_it_as_the_owner(db):
    with pytest.raises(ValueError, match="only their owner may do"):
        demo_seed(events=400, days=2, seed=14, end=END, bulk=True)
    assert Event.objects.count() == 0


# --- bootstrap_demo ----------------------------------------------------------------------------


@pytest.fixture
def base_dir(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    return tmp_path


def bootstrap(**options) -> str:
    out = io.StringIO()
    call_command("bootstrap_demo", "--events", "300", "--days", "2", stdout=out, **options)
    return out.getvalue()


def test_bootstrap_seeds_an_empty_log_and_makes_the_admin_and_token_once(db, base_dir):
    first = bootstrap()
    assert "seeding 300 demo events" in first
    password_file, token_file = base_dir / ".demo-admin-password", base_dir / ".demo-ingest-token"
    password, token = password_file.read_text().strip(), token_file.read_text().strip()
    for path in (password_file, token_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert f"Sign in at http://127.0.0.1:8000/ as admin / {password}" in first
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert token in first and "curl -sS -X POST http://127.0.0.1:8000/api/v1/events" in first
    assert token_authenticate(token).scope == "ingest"
    seeded_count = Event.objects.count()
    assert seeded_count >= 300

    second = bootstrap()
    assert "nothing seeded" in second
    assert f"as admin / {password}" in second and token in second
    assert token_file.read_text().strip() == token
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert Event.objects.count() == seeded_count
    assert chain_verify().valid


def test_bootstrap_does_not_show_a_password_that_was_changed(db, base_dir):
    bootstrap()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("a-new-password-nobody-saved")
    admin.save()
    out = bootstrap()
    assert "manage.py changepassword admin" in out
    assert (base_dir / ".demo-admin-password").read_text().strip() not in out


def test_bootstrap_issues_a_new_token_when_the_saved_one_no_longer_works(db, base_dir):
    bootstrap()
    (base_dir / ".demo-ingest-token").write_text("ac_revoked-or-from-another-database\n")
    out = bootstrap()
    token = (base_dir / ".demo-ingest-token").read_text().strip()
    assert token != "ac_revoked-or-from-another-database" and token in out
    assert token_authenticate(token) is not None


def test_the_curl_example_sends_an_event_the_api_takes(db, base_dir, client):
    out = bootstrap()
    token = (base_dir / ".demo-ingest-token").read_text().strip()
    assert '"action": "auth.login"' in out
    from apps.demo.management.commands.bootstrap_demo import SAMPLE_EVENT
    response = client.post("/api/v1/events", SAMPLE_EVENT, content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.content
