"""One time model: reversed ranges are refused wherever a range is written, the dashboard takes
`range` as the viewer does, and an auditor's dashboard opens on their audit window."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from apps.events.models import Event
from apps.events.query import QueryError, parse_query
from apps.rbac.models import Role
from tests.factories import give_role
from tests.personas import JANUARY, VISIBLE

pytestmark = pytest.mark.django_db


# --- reversed ranges -----------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["time:2026-12-10..2026-12-01", "created:2026-01-01T10:00:00Z..2026-01-01T09:00:00Z",
                                   "seq:10..1"])
def test_the_query_language_refuses_a_reversed_range_and_says_where(query):
    with pytest.raises(QueryError) as refused:
        parse_query(query)
    assert "ends before it starts" in refused.value.message
    assert refused.value.position == query.index(":") + 1


def test_a_range_of_one_day_is_not_reversed():
    parse_query("time:2026-12-01..2026-12-01")


def test_the_viewer_shows_a_reversed_range_in_the_query_as_an_error(log, browser_for):
    response = browser_for("analyst").get("/events/", {"q": "time:2026-12-10..2026-12-01"})
    assert response.status_code == 200 and response.context["page"] is None
    assert "ends before it starts" in response.content.decode()


def test_the_filter_bar_refuses_a_reversed_range(log, browser_for):
    response = browser_for("analyst").get("/events/", {"start_date": "2026-12-10", "end_date": "2026-12-01"})
    assert response.context["page"] is None
    assert "the end is before the start" in response.content.decode()


def test_the_dashboard_refuses_a_reversed_window_with_a_message(log, browser_for):
    response = browser_for("analyst").get("/", {"start_date": "2026-12-10", "end_date": "2026-12-01"})
    assert response.status_code == 400
    assert "The end is before the start." in response.content.decode()


def test_a_report_refuses_a_reversed_period_and_a_reversed_range_in_its_query(log, browser_for):
    client = browser_for("compliance")
    reversed_period = client.post("/reports/", {"report_type": "access_audit", "period": "custom",
                                                "start": "2026-12-10", "end": "2026-12-01", "format": "pdf"})
    assert "The period must end after it starts." in reversed_period.content.decode()
    reversed_query = client.post("/reports/", {"report_type": "custom", "period": "last_30d", "format": "pdf",
                                               "query": "time:2026-12-10..2026-12-01"})
    assert "ends before it starts" in reversed_query.content.decode()


# --- the dashboard's range ------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["24h", "7d", "30d"])
def test_the_dashboard_takes_range_as_the_viewer_does(log, browser_for, key):
    response = browser_for("analyst").get("/", {"range": key})
    assert response.context["board"].period.key == key
    assert f'href="?range={key}" aria-current="page"' in response.content.decode()


def test_a_window_on_the_dashboard_counts_the_events_in_it(log, browser_for, people):
    response = browser_for("analyst").get("/", {"start_date": "2026-01-01", "end_date": "2026-01-31"})
    board = response.context["board"]
    in_january = Event.objects.visible_to(people["analyst"]).filter(occurred_at__gte=JANUARY[0], occurred_at__lt=JANUARY[1])
    assert board.total == in_january.count() == 2
    assert board.is_over and "Live view" not in response.content.decode()


# --- the auditor's landing page -------------------------------------------------------------------

def test_the_auditors_dashboard_opens_on_their_audit_window(log, browser_for):
    response = browser_for("auditor").get("/")
    assert response.status_code == 200
    assert response.context["window"] == JANUARY
    board = response.context["board"]
    assert board.total == len(VISIBLE["auditor"]) == 2
    assert {event.event_id for event in board.recent} == VISIBLE["auditor"]
    html = response.content.decode()
    assert "Audit window" in html and "your audit window, which is over" in html
    assert "Live view" not in html
    # The auditor may not make evidence packs: no link to one.
    assert "Evidence pack for this period" not in html
    # Every count links to the viewer over the same window.
    assert "start_date=2026-01-01T00:00:00Z&amp;end_date=2026-01-31T23:59:59Z" in html


def test_an_auditor_can_still_look_at_the_last_hours(log, browser_for):
    response = browser_for("auditor").get("/", {"range": "24h"})
    assert response.context["window"] is None and response.context["board"].total == 0


def test_a_windowed_compliance_officer_gets_the_evidence_pack_of_the_period(log, people, browser_for):
    officer = people["no_role"]
    give_role(officer, Role.Slug.COMPLIANCE_OFFICER, window_start=JANUARY[0], window_end=JANUARY[1])
    html = browser_for("no_role").get("/").content.decode()
    assert "Evidence pack for this period" in html
    assert "format=zip&amp;period=custom&amp;start=2026-01-01T00:00:00Z&amp;end=2026-01-31T23:59:59Z" in html
    form = browser_for("no_role").get("/reports/?type=compliance_audit&format=zip&period=custom"
                                      "&start=2026-01-01T00:00:00Z&end=2026-01-31T23:59:59Z")
    assert form.context["form"].initial["period"] == "custom"
    assert form.context["form"].initial["start"] == "2026-01-01T00:00:00Z"


def test_users_without_a_window_land_on_the_last_24_hours(log, browser_for):
    response = browser_for("analyst").get("/")
    assert response.context["window"] is None and response.context["board"].period.key == "24h"
    assert datetime.now(timezone.utc) - response.context["board"].start < response.context["board"].period.buckets * (
        datetime(2026, 1, 1, 1) - datetime(2026, 1, 1))
