"""The accepted range of event times, and every page working with any time the log holds.

Ingest takes times from 1970-01-01T00:00:00Z to INGEST_MAX_FUTURE_SECONDS (a day) ahead of the
server's clock. A log may still hold events outside that range (written before it was enforced),
so the pages, rollups and exports are checked with events at the two ends of what a datetime holds.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from apps.events.chain import chain_append
from apps.events.models import Event
from apps.events.schema import normalize_event
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient

EVENTS = "/api/v1/events"

pytestmark = pytest.mark.django_db


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("timestamp", ["9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", -1])
def test_ingest_refuses_a_time_outside_the_accepted_range_naming_the_timestamp(ingest_api, timestamp):
    response = ingest_api.post(EVENTS, {"action": "x.y", "timestamp": timestamp})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["timestamp"]
    assert Event.objects.count() == 0


def test_ingest_takes_the_epoch_and_a_sender_whose_clock_runs_an_hour_ahead(ingest):
    ahead = django_timezone.now() + timedelta(hours=1)

    ingest({"event_id": "epoch", "action": "x.y", "timestamp": "1970-01-01T00:00:00Z"},
           {"event_id": "ahead", "action": "x.y", "timestamp": iso(ahead)})

    assert Event.objects.count() == 2


def test_how_far_ahead_an_event_may_be_dated_is_a_setting(ingest_api, settings):
    settings.INGEST_MAX_FUTURE_SECONDS = 60
    ahead = django_timezone.now() + timedelta(minutes=5)

    response = ingest_api.post(EVENTS, {"action": "x.y", "timestamp": iso(ahead)})

    assert response.status_code == 400
    assert "60 seconds ahead" in response.json()["errors"][0]["message"]


@pytest.fixture
def extreme_log(db, people, log):
    """Events at the first and last instants a datetime holds, as a log from before the range
    was enforced holds them (appended to the chain directly, past ingest's check)."""
    events = []
    for event_id, when in (("far-future", datetime.max.replace(tzinfo=timezone.utc)),
                           ("far-past", datetime.min.replace(tzinfo=timezone.utc))):
        event = normalize_event({"action": "x.y", "event_id": event_id, "actor_id": "alice",
                                 "resource_id": "r1", "session_id": "s1", "ip_address": "10.0.0.1"})
        event["occurred_at"] = when
        events.append(event)
    chain_append(events)


@pytest.mark.parametrize("url", [
    "/", "/?period=24h", "/?period=7d", "/?period=30d", "/events/", "/events/?sort=oldest",
    "/events/far-future/", "/events/far-past/", "/events/far-future/verify/", "/events/far-past/verify/",
    "/events/?q=timestamp:>now-24h", "/events/?range=all", "/reports/",
])
def test_every_page_works_with_events_at_the_ends_of_time(extreme_log, browser_for, url):
    response = browser_for("admin").get(url)

    assert response.status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_exports_carry_events_at_the_ends_of_time(extreme_log, people, fmt):
    api = ApiClient(token_issue(scope="read", user=people["admin"]).secret)

    response = api.post("/api/v1/audit-logs/export", {"format": fmt})

    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert "far-future" in body and "far-past" in body


def test_the_chain_verifies_with_events_at_the_ends_of_time(extreme_log, read_api):
    assert read_api.get("/api/v1/verify").json()["valid"] is True


@pytest.mark.parametrize("start, end", [("0001-01-01T00:00:00Z", "2026-12-31T23:59:59Z"),
                                        ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z")])
def test_a_report_over_a_period_reaching_the_ends_of_time_is_made_or_refused_never_a_500(
        extreme_log, people, tmp_path, settings, start, end):
    from apps.reports.generation import report_generate
    from apps.reports.models import Report

    settings.REPORTS_ROOT = tmp_path
    api = ApiClient(token_issue(scope="read", user=people["compliance"]).secret)
    response = api.post("/api/v1/reports", {
        "report_type": "compliance_audit", "compliance_framework": "soc2_type2",
        "date_range": {"start_date": start, "end_date": end}, "format": "pdf"})

    assert response.status_code in (202, 400), response.content
    if response.status_code == 202:
        report_generate(response.json()["id"])
        assert Report.objects.get(pk=response.json()["id"]).status == "done"
    else:
        assert response.json()["errors"][0]["field"]
