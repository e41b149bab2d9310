"""The dashboard: every number links to the viewer with a query that gives the same number."""
from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db.models import Q
from django.utils import timezone

from apps.dashboard import reads as dashboard
from apps.events import rollup_tops, rollups
from apps.events.actor_rollups import actor_keys
from apps.dashboard.reads import dashboard_get
from apps.events.security_signals import SIGNALS
from apps.search.filters import filter_q
from apps.events.ingest import event_ingest
from apps.events.models import Event, RollupBucket
from apps.rbac.models import Role, RoleAssignment
from tests.factories import give_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def dashboard_log():
    """90 events over 30 days of alice, bob and carol, raising every security signal."""
    now = timezone.now()
    kinds = [
        ("auth.login", "failure", "medium", {}), ("auth.login", "success", "info", {}),
        ("auth.lockout", "failure", "high", {}), ("iam.role.update", "success", "high", {}),
        ("rbac.role.assign", "success", "medium", {}), ("compute.servers.delete", "denied", "critical", {}),
        ("policy.violation.detected", "failure", "high", {"tags": ["policy-violation"]}),
        ("storage.object.read", "success", "low", {"tags": ["policy-violation"]}),
        ("billing.budget.update", "success", "info", {}),
    ]
    events = []
    for i in range(90):
        action, outcome, severity, extra = kinds[i % len(kinds)]
        events.append({
            "event_id": f"evt_dash_{i}", "timestamp": (now - timedelta(hours=i * 8)).isoformat(),
            "action": action, "outcome": outcome, "severity": severity, "project": "p1" if i % 2 else "p2",
            "actor": {"type": "user", "id": ["alice", "bob", "carol"][i % 3], "email": ["alice@example.com", "", "carol@example.com"][i % 3]},
            "resource": {"type": "server", "id": f"srv_\"{i % 4}\" x"}, **extra,
        })
    event_ingest(events)
    return events


@pytest.fixture
def admin(people):
    """ada, the Audit Administrator persona: sees the whole log."""
    return people["admin"]


@pytest.fixture
def alice(people):
    """alice, the Regular User persona: sees the events she is the actor of."""
    return people["regular"]


def viewer_count(user, url: str) -> int:
    """What the viewer finds for the link: its filters applied to what the user may see."""
    parts = urlsplit(url)
    assert parts.path == "/events/"
    condition, errors = filter_q(dict(parse_qsl(parts.query)))
    assert errors == {}, (url, errors)
    return Event.objects.visible_to(user).filter(condition).count()


def panel_links(board):
    for name in ("categories", "actions", "actors", "resources", "outcomes"):
        for row in getattr(board, name):
            yield f"{name} {row.value}", row.count, row.url
    for row in board.signals:
        yield row.signal.key, row.count, row.url


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_each_panel_link_opens_the_viewer_with_a_query_that_gives_the_same_number(dashboard_log, admin, period):
    board = dashboard_get(user=admin, period_key=period)
    assert board.from_rollups
    links = list(panel_links(board))
    assert len(links) > 15
    for name, count, url in links:
        assert viewer_count(admin, url) == count, (name, url)
    assert board.total == viewer_count(admin, board.signals[0].url.split("&q=")[0])


def test_every_security_signal_is_raised_by_the_fixture_and_counted(dashboard_log, admin):
    board = dashboard_get(user=admin, period_key="30d")
    counts = {row.signal.key: row.count for row in board.signals}
    assert set(counts) == {signal.key for signal in SIGNALS}
    assert all(counts.values()), counts


def test_a_regular_users_dashboard_counts_only_their_own_events_and_its_links_agree(dashboard_log, alice):
    board = dashboard_get(user=alice, period_key="30d")
    assert not board.from_rollups and board.compliance is None and board.ingestion is None
    assert board.total == Event.objects.visible_to(alice).filter(occurred_at__gte=board.start).count() > 0
    assert [row.value for row in board.actors] == ["alice@example.com"]
    for name, count, url in panel_links(board):
        assert viewer_count(alice, url) == count, (name, url)
    assert {event.actor_id for event in board.recent} == {"alice"}


def test_the_viewer_shows_the_same_total_as_the_dashboards_signal(dashboard_log, admin, browser_for):
    client = browser_for("admin")
    board = dashboard_get(user=admin, period_key="7d")
    for row in board.signals:
        response = client.get(row.url)
        assert response.status_code == 200
        assert response.context["page"].total == row.count, row.signal.key


def test_the_dashboard_page_renders_every_panel_with_accessible_charts(dashboard_log, browser_for,
                                                                       django_assert_max_num_queries):
    client = browser_for("admin")
    with django_assert_max_num_queries(40):
        response = client.get("/?period=7d")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Failed sign-ins", "Activity", "Recent activity", "Top actors", "Top resources",
                 "Chain and compliance", "Ingestion health", 'role="img"', "<title>", "Show as table"):
        assert text in html, text
    assert 'style="' not in html


def test_the_dashboard_needs_the_permission_to_view_events(browser_for):
    assert browser_for("no_role").get("/").status_code == 403


def test_the_regular_users_dashboard_has_no_compliance_panel(dashboard_log, browser_for):
    client = browser_for("regular")
    html = client.get("/").content.decode()
    assert "Recent activity" in html and "Chain and compliance" not in html and "Ingestion health" not in html


def test_the_compliance_panel_shows_the_last_verification_run_and_the_events_since(dashboard_log, admin):
    from apps.events.verification_runs import verification_run_incremental

    first = verification_run_incremental()
    assert first.kind == "full" and first.valid and first.checked == 90
    assert verification_run_incremental() is None
    event_ingest([{"event_id": "evt_dash_more", "action": "auth.login"}])
    later = verification_run_incremental()
    assert later.kind == "incremental" and later.valid and (later.from_seq, later.to_seq) == (91, 91)
    compliance = dashboard_get(user=admin).compliance
    assert compliance["last_full"] == first and compliance["last_run"] == later and compliance["since_verified"] == 0


def day_rows(dimension: str, counts_by_day: list[dict[str, int]], first_day) -> list[RollupBucket]:
    return [RollupBucket(granularity="day", dimension=dimension, bucket_start=first_day + timedelta(days=i),
                         value=value, count=count)
            for i, counts in enumerate(counts_by_day) for value, count in counts.items()]


@pytest.mark.parametrize("shape", ["a few busy values among many seen once", "counts spread evenly",
                                   "counts spread evenly, past the deepest lists read", "ties at the tenth place"])
def test_a_top_list_read_from_each_days_largest_counts_is_the_same_as_summing_every_row(shape, monkeypatch):
    if shape.endswith("past the deepest lists read"):
        monkeypatch.setattr(rollup_tops, "_TOP_MAX_DEPTH", rollup_tops._TOP_FIRST_DEPTH)   # every row is summed
    rng = random.Random(5)
    first_day = rollups.floor_time(timezone.now(), "day") - timedelta(days=29)
    days = []
    for day in range(30):
        if shape == "a few busy values among many seen once":
            counts = {f"res_{day}_{i}": 1 for i in range(300)}
            counts.update({f"busy_{i}": rng.randint(20, 60) for i in range(15)})
        elif shape.startswith("counts spread evenly"):
            counts = {f"res_{i}": rng.randint(1, 3) for i in rng.sample(range(2000), 400)}
        else:
            counts = {f"res_{day}_{i}": 1 for i in range(200)}
            counts.update({f"tie_{i}": 5 for i in range(14)})
        days.append(counts)
    RollupBucket.objects.bulk_create(day_rows("resource", days, first_day))
    for start in (first_day, first_day + timedelta(days=23)):
        assert (rollup_tops.rollup_top_bounded(granularity="day", dimension="resource", start=start, limit=10)
                == rollups.rollup_top(granularity="day", dimension="resource", start=start, limit=10))


# --- users who see only some actors: per-actor rollups ------------------------------------------

@pytest.fixture
def actor_log():
    """Events of alice, bob, carol, dave and max (the personas' payments team and carol, plus
    dave, who has no account), whose ids and emails differ in case from their accounts, some
    matching a person by id alone or by email alone, over 40 days."""
    now = timezone.now()
    actors = [
        {"type": "user", "id": "Alice", "email": "ALICE@example.com"},
        {"type": "user", "id": "alice", "email": ""},
        {"type": "service", "id": "svc-mailer", "email": "alice@EXAMPLE.com"},     # alice by email
        {"type": "user", "id": "ALICE", "email": "someone.else@example.com"},      # alice by id
        {"type": "user", "id": "bob", "email": "Bob@Example.com"},
        {"type": "user", "id": "BOB", "email": ""},
        {"type": "user", "id": "carol", "email": "carol@example.com"},
        {"type": "user", "id": "dave", "email": "dave@example.com"},
        {"type": "user", "id": "MAX", "email": "max@EXAMPLE.com"},
    ]
    kinds = [("auth.login", "failure", "medium", {}), ("auth.login", "success", "info", {}),
             ("iam.role.update", "success", "high", {}), ("compute.servers.delete", "denied", "critical", {}),
             ("policy.violation.detected", "failure", "high", {"tags": ["policy-violation"]}),
             ("storage.object.read", "success", "low", {})]
    events = []
    for i in range(400):
        action, outcome, severity, extra = kinds[i % len(kinds)]
        events.append({
            "event_id": f"evt_people_{i}", "timestamp": (now - timedelta(minutes=i * 149)).isoformat(),
            "action": action, "outcome": outcome, "severity": severity, "project": ["p1", "p2", "p3"][i % 3],
            "actor": actors[(i * 7) % len(actors)],
            "resource": {"type": "server", "id": f"srv_{(i * 13) % 23}"} if i % 5 else {}, **extra,
        })
    return events


def board_from_events(user, period: str, monkeypatch):
    """The dashboard counted from the events table alone, as for a scope no rollup splits."""
    with monkeypatch.context() as patch:
        patch.setattr(dashboard, "actor_keys", lambda scope: None)
        board = dashboard_get(user=user, period_key=period)
    assert board.counted_from == "events"
    return board


def panels(board):
    return {"total": board.total, "series": board.series,
            **{name: [(row.value, row.count) for row in getattr(board, name)]
               for name in ("categories", "actions", "actors", "resources", "outcomes")},
            "signals": [(row.signal.key, row.count) for row in board.signals]}


@pytest.mark.parametrize("persona", ["regular", "manager"])
@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_a_limited_users_dashboard_from_per_actor_rollups_shows_what_the_events_table_gives(
        actor_log, people, persona, period, monkeypatch):
    user = people[persona]
    event_ingest(actor_log[100:])
    rollups.rollups_catch_up(chunk=70)
    event_ingest(actor_log[:100])             # the last 10 days, stored after the catch-up: from the table
    assert rollups.actor_rollup_seq() == 300
    board = dashboard_get(user=user, period_key=period)
    assert board.counted_from == "actor rollups" and not board.from_rollups and board.compliance is None
    assert panels(board) == panels(board_from_events(user, period, monkeypatch))
    assert board.total == Event.objects.visible_to(user).filter(occurred_at__gte=board.start).count() > 0
    for name, count, url in panel_links(board):
        assert viewer_count(user, url) == count, (name, url)
    rollups.rollups_catch_up()
    assert panels(dashboard_get(user=user, period_key=period)) == panels(board)


def test_a_regular_user_sees_events_matched_by_id_or_email_in_any_case_once(actor_log, people):
    event_ingest(actor_log)
    rollups.rollups_catch_up()
    board = dashboard_get(user=people["regular"], period_key="30d")
    assert board.counted_from == "actor rollups"
    # Each of alice's four ways of appearing counts, and "Alice"/"ALICE@example.com" only once.
    assert {row.value for row in board.actors} == {"alice@example.com", "alice", "someone.else@example.com"}
    assert board.total == sum(row.count for row in board.actors)
    assert board.total == sum(1 for event in Event.objects.visible_to(people["regular"])
                              if event.occurred_at >= board.start)


@pytest.mark.parametrize("limits", [{"projects": ["p1"]}, {"window_start": timezone.now() - timedelta(days=10)}],
                         ids=["project-limited", "window-limited"])
def test_a_user_limited_to_projects_or_a_time_window_is_counted_from_the_events_table(actor_log, people, limits):
    event_ingest(actor_log)
    rollups.rollups_catch_up()
    carol = people["carol"]   # a persona without a role, given a limited Regular User role here
    give_role(carol, Role.Slug.REGULAR_USER, **limits)
    board = dashboard_get(user=carol, period_key="30d")
    assert board.counted_from == "events"
    visible = Event.objects.visible_to(carol)
    assert board.total == visible.filter(occurred_at__gte=board.start).count() > 0
    assert board.total < Event.objects.filter(actor_id="carol").count()
    for name, count, url in panel_links(board):
        assert viewer_count(carol, url) == count, (name, url)


def test_only_a_scope_of_named_actors_is_read_from_the_per_actor_rollups(people):
    from apps.rbac.scoping import NOTHING, event_scope

    assert actor_keys(event_scope(people["regular"])) == (["alice"], ["alice@example.com"])
    usernames, emails = actor_keys(event_scope(people["manager"]))
    # max manages the payments team (alice, bob and himself); he has no email address.
    assert sorted(usernames) == ["alice", "bob", "max"] and sorted(emails) == ["alice@example.com", "bob@example.com"]
    assert actor_keys(Q()) is None and actor_keys(NOTHING) is None
    assert actor_keys(Q(actor_id__iexact="alice") & Q(project__in=["p1"])) is None
    assert actor_keys(~Q(actor_id__iexact="alice")) is None
    assert actor_keys(Q(actor_id__iexact="alice") | Q(occurred_at__gte=timezone.now())) is None


def test_an_external_auditors_window_is_counted_from_the_events_table(actor_log, people):
    event_ingest(actor_log)
    rollups.rollups_catch_up()
    auditor = people["auditor"]
    now = timezone.now()
    # The auditor persona's engagement, moved to a window these events fall in.
    RoleAssignment.objects.filter(user=auditor).update(window_start=now - timedelta(days=12),
                                                       window_end=now - timedelta(days=2))
    board = dashboard_get(user=auditor, period_key="30d")
    assert board.counted_from == "events" and not board.from_rollups
    assert board.total == Event.objects.visible_to(auditor).filter(occurred_at__gte=board.start).count() > 0
    assert board.total < Event.objects.filter(occurred_at__gte=board.start).count()
    for name, count, url in panel_links(board):
        assert viewer_count(auditor, url) == count, (name, url)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_dashboard_reads_one_repeatable_read_snapshot(actor_log, people, monkeypatch):
    from django.db import connection

    event_ingest(actor_log[100:])
    rollups.rollups_catch_up()
    event_ingest(actor_log[:100])
    seen = []
    original = dashboard.ActorRollups.series

    def series(self, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            seen.append((connection.in_atomic_block, cursor.fetchone()[0]))
        return original(self, **kwargs)

    monkeypatch.setattr(dashboard.ActorRollups, "series", series)
    assert not connection.in_atomic_block
    board = dashboard_get(user=people["regular"], period_key="30d")
    assert seen == [(True, "repeatable read")]
    assert board.counted_from == "actor rollups"
    assert board.total == Event.objects.visible_to(people["regular"]).filter(occurred_at__gte=board.start).count()
