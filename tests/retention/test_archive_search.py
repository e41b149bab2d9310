"""Warm search: `include_archive=true` on the API list returns the same events the same query
returned before they were archived, for each role, through the same visibility rule."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.rbac.tokens import token_issue
from apps.retention.archive_search import archive_page, time_bounds
from apps.retention.models import RetentionPolicy
from apps.retention.runs import retention_run
from tests.factories import ApiClient
from tests.personas import VISIBLE


def _ids(api, **params):
    response = api.get("/api/v1/audit-logs", {"limit": "100", **params})
    assert response.status_code == 200, response.content
    body = response.json()
    return {log["event_id"]: log.get("archived") for log in body["audit_logs"]}, body


@pytest.mark.parametrize("persona", ["admin", "analyst", "analyst_p1", "compliance", "manager", "regular", "auditor"])
def test_an_archived_search_returns_what_the_same_query_did_before_archiving(people, log, persona):
    # The personas' log is months old: a 1-day hot policy archives all of it.
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    api = ApiClient(token_issue(scope="read", user=people[persona]).secret)
    queries = [{}, {"q": "project:p1"}, {"actor": "alice"}]
    before = [set(_ids(api, **query)[0]) for query in queries]
    assert before[0] == VISIBLE[persona]

    retention_run()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event WHERE event_id = ANY(%s)", [list(VISIBLE["admin"])])
        assert cursor.fetchone()[0] == 0  # all archived: the hot list alone finds none of them
    assert set(_ids(api, **queries[0])[0]) & VISIBLE["admin"] == set()

    for query, expected in zip(queries, before):
        found, body = _ids(api, include_archive="true", **query)
        assert set(found) == expected, query
        assert all(found[event_id] is True for event_id in expected)
        assert body["total_count"] == len(expected)


def test_archive_search_pages_by_offset_and_refuses_a_cursor_naming_it(people, log):
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    retention_run()
    api = ApiClient(token_issue(scope="read", user=people["admin"]).secret)
    first, body = _ids(api, include_archive="true", limit="4")
    assert len(first) == 4 and "offset=4" in body["next_page"]
    second, _ = _ids(api, include_archive="true", limit="4", offset="4")
    assert len(second) == 2 and not set(first) & set(second)
    response = api.get("/api/v1/audit-logs", {"include_archive": "true", "cursor": "abc"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("persona", ["admin", "analyst_p1", "manager", "regular", "auditor"])
def test_the_archive_search_page_shows_each_role_what_it_may_see_marked_as_archived(people, log, browser_for, persona):
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    retention_run()
    page = browser_for(persona).get("/retention/archive/", {"q": "action:demo.thing.do"})
    assert page.status_code == 200
    text = page.content.decode()
    total = len(VISIBLE[persona])
    assert f"{total} event{'s' if total != 1 else ''}" in text
    assert text.count(">archived</span>") == total


def test_the_archive_search_page_refuses_a_bad_query_naming_the_field(people, browser_for):
    page = browser_for("analyst").get("/retention/archive/", {"q": "action:(("})
    assert page.status_code == 400 and "q: " in page.content.decode()


def test_the_archive_search_page_is_closed_to_people_without_a_role(people, browser_for):
    assert browser_for("no_role").get("/retention/archive/").status_code == 403


def test_a_time_range_skips_segments_outside_it_and_finds_the_same_events(db, aged, people):
    RetentionPolicy.objects.create(name="Views", event_types=["resource.view"], hot_days=1, warm_days=3650, cold_months=0)
    RetentionPolicy.objects.create(name="Edits", event_types=["resource.edit"], hot_days=1, warm_days=3650, cold_months=0)
    recent = aged(("resource.view", 3))
    aged(("resource.edit", 200))
    retention_run()
    api = ApiClient(token_issue(scope="read", user=people["admin"]).secret)
    start = (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%d")
    found, body = _ids(api, include_archive="true", start_date=start)
    assert set(found) == set(recent)
    bounds = time_bounds({"start_date": start})
    assert archive_page(principal=people["admin"], condition=Q(), limit=10, start=bounds[0]).segments_searched == 1
