"""The summary of a whole period, read from the rollups and the events table's indexes
(apps.reports.whole_period), against the same figures counted from the events themselves: for
days and hours, periods that cut a day, events the rollups have not counted yet, resource types
holding a ':', and rollups that disagree. Only a requester who sees every event, with no filter,
is given figures from the rollups.
"""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.events.chain import chain_append
from apps.events.ingest import event_ingest
from apps.events.models import Event, RollupState
from apps.events.query import parse_query
from apps.events.schema import normalize_event
from apps.rbac.models import RoleAssignment
from apps.reports import figures as fig
from apps.reports.frameworks_data import framework_get
from apps.reports.generation import report_figures
from apps.reports.models import Report
from tests.logbook import event

ACTIONS = ("auth.login", "auth.mfa.verify", "iam.user.create", "config.settings.update", "compute.servers.delete",
           "data.export", "security.finding.create")
OUTCOMES = ("success", "failed", "denied", "error")
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _log(n: int, *, prefix: str, day0: int = 1) -> list[dict]:
    """`n` events spread over five days of March 2025 (and an hour either side), in every
    combination of actors, actions, outcomes, severities and resources the figures rank."""
    events = []
    for i in range(n):
        day = day0 + (i * 7) % 5
        hour, minute = (i * 5) % 24, (i * 13) % 60
        resource = {"type": ("server", "user", "bucket")[i % 3], "id": f"r-{i % 11}"} if i % 4 else {}
        actor = {"id": ("alice", "Alice", "bob", "mallory", "svc-backup")[i % 5]}
        if i % 3 == 0:
            actor["email"] = f"{actor['id'].lower()}@example.com"
        events.append(event(f"{prefix}-{i}", ACTIONS[i % len(ACTIONS)], f"2025-03-{day:02d}T{hour:02d}:{minute:02d}:00Z",
                            actor=actor, status=OUTCOMES[(i // 2) % len(OUTCOMES)],
                            severity=SEVERITIES[(i // 3) % len(SEVERITIES)], resource=resource))
    return events


@pytest.fixture
def officer(people):
    """cora, the Compliance Officer persona: sees every event, generates reports."""
    return people["compliance"]


def _figures_both_ways(principal, start, end, query="time = all"):
    """(figures from the rollups and indexes, figures counted from the events, the SQL run for the first)."""
    events = fig.period_events(principal=principal, start=start, end=end)
    items = [fig.Item("all", query)]
    with CaptureQueriesContext(connection) as queries:
        whole = fig.items_figures(events, items, start=start, end=end, whole_period=True)["all"]
    counted = fig.items_figures(events, items, start=start, end=end)["all"]
    return whole, counted, " ".join(q["sql"] for q in queries.captured_queries)


def _independent(start, end) -> dict:
    """A few of the figures, counted one by one with the ORM."""
    events = Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    resources = {f"{t}:{i}" for t, i in events.values_list("resource_type", "resource_id") if t or i}
    return {"events": events.count(), "unique_actors": events.values("actor_id").distinct().count(),
            "resources_affected": len(resources), "failure": events.filter(outcome="failure").count()}


PERIODS = {
    "five whole days": (datetime(2025, 3, 1, tzinfo=dt_timezone.utc), datetime(2025, 3, 6, tzinfo=dt_timezone.utc)),
    "days cut at both ends": (datetime(2025, 3, 1, 10, 30, tzinfo=dt_timezone.utc),
                              datetime(2025, 3, 5, 7, 15, tzinfo=dt_timezone.utc)),
    "hours of one day and a half": (datetime(2025, 3, 2, 6, tzinfo=dt_timezone.utc),
                                    datetime(2025, 3, 3, 18, 40, tzinfo=dt_timezone.utc)),
}


@pytest.mark.parametrize("period", list(PERIODS))
def test_the_whole_periods_figures_from_the_rollups_are_the_figures_counted_from_the_events(officer, period):
    start, end = PERIODS[period]
    event_ingest(_log(400, prefix="a"))
    whole, counted, sql = _figures_both_ways(officer, start, end)
    assert "audit_rollup_bucket" in sql
    assert whole == counted
    independent = _independent(start, end)
    assert whole["events"] == independent["events"] > 0
    assert whole["unique_actors"] == independent["unique_actors"]
    assert whole["resources_affected"] == independent["resources_affected"]
    assert whole["by_outcome"]["failure"] == independent["failure"]
    assert sum(count for _, count in whole["series"]) == whole["events"]


def test_events_the_rollups_have_not_counted_yet_are_counted_from_the_table(officer):
    start, end = PERIODS["five whole days"]
    event_ingest(_log(200, prefix="b"))
    # Stored without counting them in the rollups (as a bulk load does until its catch-up).
    chain_append([normalize_event(e) for e in _log(90, prefix="c")], count_rollups=False)
    whole, counted, sql = _figures_both_ways(officer, start, end)
    assert "audit_rollup_bucket" in sql
    assert whole == counted
    assert whole["events"] == _independent(start, end)["events"] == 290


def test_resources_whose_type_holds_a_colon_are_one_resource_when_their_keys_are_the_same(officer):
    start, end = PERIODS["five whole days"]
    event_ingest([
        event("k-1", "compute.servers.delete", "2025-03-01T10:00:00Z", actor={"id": "alice"},
              resource={"type": "a:b", "id": "c"}),
        event("k-2", "compute.servers.delete", "2025-03-02T10:00:00Z", actor={"id": "alice"},
              resource={"type": "a", "id": "b:c"}),
        event("k-3", "compute.servers.delete", "2025-03-03T10:00:00Z", actor={"id": "bob"},
              resource={"type": "a", "id": "d"}),
    ])
    whole, counted, _ = _figures_both_ways(officer, start, end)
    assert whole == counted
    assert whole["resources_affected"] == 2
    assert [list(pair) for pair in whole["top_resources"]] == [["a:b:c", 2], ["a:d", 1]]


def test_rollups_that_disagree_with_the_events_are_not_used(officer):
    start, end = PERIODS["five whole days"]
    event_ingest(_log(120, prefix="d"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_rollup_bucket SET count = count + 7 WHERE granularity = 'day' AND dimension = 'all'"
                       " AND bucket_start = %s", [start])
        assert cursor.rowcount == 1
    whole, counted, _ = _figures_both_ways(officer, start, end)
    assert whole == counted
    assert whole["events"] == _independent(start, end)["events"] == 120


def test_a_report_of_a_requester_limited_to_a_project_counts_only_their_events_and_never_reads_rollups(people):
    start, end = PERIODS["five whole days"]
    log = _log(150, prefix="e")
    for i, raw in enumerate(log):
        raw["project"] = "payments" if i % 3 == 0 else "web"
    event_ingest(log)
    user = people["compliance"]   # cora, limited here to the payments project
    RoleAssignment.objects.filter(user=user).update(projects=["payments"])
    assert not fig.sees_every_event(user)
    report = Report.objects.create(report_type="compliance_audit", framework=framework_get("soc2_type2"),
                                   period_start=start, period_end=end, requested_by=user, format="json")
    with CaptureQueriesContext(connection) as queries:
        figures = report_figures(report)
    assert "audit_rollup_bucket" not in " ".join(q["sql"] for q in queries.captured_queries)
    visible = Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end, project="payments")
    assert figures["summary"]["figures"]["events"] == visible.count() == 50
    assert figures["summary"]["figures"]["unique_actors"] == visible.values("actor_id").distinct().count()


@pytest.mark.parametrize("narrowed", ["query", "subject"])
def test_a_report_with_a_query_or_a_subject_counts_its_events_and_never_reads_rollups(officer, narrowed):
    start, end = PERIODS["five whole days"]
    event_ingest(_log(150, prefix="f"))
    if narrowed == "query":
        report = Report.objects.create(report_type="compliance_audit", framework=framework_get("soc2_type2"),
                                       period_start=start, period_end=end, requested_by=officer, format="json",
                                       query="actor:bob")
    else:
        report = Report.objects.create(report_type="user_activity", subject="bob", period_start=start,
                                       period_end=end, requested_by=officer, format="json")
    with CaptureQueriesContext(connection) as queries:
        figures = report_figures(report)
    assert "audit_rollup_bucket" not in " ".join(q["sql"] for q in queries.captured_queries)
    assert figures["summary"]["figures"]["events"] == Event.objects.filter(
        occurred_at__gte=start, occurred_at__lt=end).filter(parse_query("actor:bob", now=end)).count() > 0


def test_a_whole_period_report_by_someone_who_sees_everything_reads_its_summary_from_the_rollups(officer):
    start, end = PERIODS["five whole days"]
    event_ingest(_log(150, prefix="g"))
    report = Report.objects.create(report_type="compliance_audit", framework=framework_get("soc2_type2"),
                                   period_start=start, period_end=end, requested_by=officer, format="json")
    with CaptureQueriesContext(connection) as queries:
        figures = report_figures(report)
    assert "audit_rollup_bucket" in " ".join(q["sql"] for q in queries.captured_queries)
    assert figures["summary"]["figures"]["events"] == 150
    with transaction.atomic():
        events = fig.period_events(principal=officer, start=start, end=end)
        assert figures["summary"]["figures"] == fig.items_figures(
            events, [fig.Item("summary", "time = all")], start=start, end=end)["summary"]


def test_rollups_that_count_nothing_yet_leave_every_figure_to_the_events(officer):
    start, end = PERIODS["five whole days"]
    event_ingest(_log(80, prefix="h"))
    RollupState.objects.update(seq=0)
    whole, counted, sql = _figures_both_ways(officer, start, end)
    assert "audit_rollup_bucket" not in sql
    assert whole == counted
    assert whole["events"] == 80


def test_the_forms_preview_shows_the_whole_periods_figures_as_the_report_counts_them(officer, browser_for):
    event_ingest(_log(100, prefix="p"))
    client = browser_for("compliance")
    params = {"report_type": "compliance_audit", "framework": "soc2_type2", "period": "custom",
              "start": "2025-03-01", "end": "2025-03-05", "format": "pdf"}
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("reports:preview"), params)
    assert response.status_code == 200
    assert "audit_rollup_bucket" in " ".join(q["sql"] for q in queries.captured_queries)
    label, summary = response.context["rows"][0]
    start, end = response.context["start"], response.context["end"]
    assert label == "All events in scope"
    assert summary["events"] == _independent(start, end)["events"] > 0
    with transaction.atomic():
        events = fig.period_events(principal=officer, start=start, end=end)
        assert summary == fig.items_figures(events, [fig.Item("s", "time = all")], start=start, end=end, top=3)["s"]
