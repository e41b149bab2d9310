"""The capped count and the first page of GET /api/v1/audit-logs whichever way reads takes to
them: an OR of filters counted branch by branch (actor's id, name and email; event_type's
action and category; several outcomes), and pages of few matches walked through an index or
sorted. Each answer is checked against the events known to match, counted here independently.

The log is ingested once for the module inside a transaction rolled back at the end (the
events table refuses DELETE). Several events share one timestamp, so the order of a page
also rests on seq.
"""
from __future__ import annotations

import pytest
from django.utils import timezone

from apps.search import reads
from apps.events.models import Event
from tests.factories import ApiClient
from tests.logbook import ago_from, event, stored_for_module

LOGS = "/api/v1/audit-logs"
NOW = timezone.now()
ago = ago_from(NOW)
SAME_MOMENT = ago(minutes=30)

EVENTS = [
    # `actor=kim` matches by id, by name, by both (counted once) and by email.
    event("kim-by-id", "auth.login", ago(minutes=5), status="failed", actor={"id": "kim", "email": "k@example.com"}),
    event("kim-by-name", "auth.logout", SAME_MOMENT, actor={"id": "u_2", "name": "Kim"}),
    event("kim-by-id-and-name", "iam.role.update", SAME_MOMENT, status="denied", severity="high",
          actor={"id": "KIM", "name": "kim"}),
    event("kim-by-email", "authentication.login", SAME_MOMENT, status="failed", actor={"email": "Kim@example.org"}),
    event("lee-login", "auth.login", ago(hours=2), status="success", actor={"id": "lee", "name": "Lee"}),
    event("lee-denied", "storage.bucket.read", ago(hours=3), status="denied", actor={"id": "lee"}),
    event("lee-failed", "storage.bucket.delete", ago(days=2), status="failed", severity="high", actor={"id": "lee"}),
    event("authentication-itself", "authentication", ago(days=3), actor={"id": "svc"}),
    event("old-high", "compute.servers.create", ago(days=20), severity="high", actor={"id": "svc"},
          tags=["authentication", "compute"]),
    # A tag and a time range: counted by fetching the rows, whose page is then taken from the count.
    event("tagged-now", "document.share", SAME_MOMENT, actor={"id": "svc"}, tags=["authentication", "mfa"]),
    event("tagged-earlier", "document.read", ago(hours=6), actor={"id": "svc"}, tags=["mfa", "authentication"]),
    event("tagged-last-week", "document.export", ago(days=6), actor={"id": "svc"}, tags=["authentication"]),
    # A pasted path is looked up by its id-like parts, then compared whole, ignoring case.
    event("path-whole", "storage.object.create", ago(days=1), actor={"id": "svc"},
          description="uploaded bkt_4f3a9c21d7/assets/img/2025-12/77aa31b9c2.webp to the bucket"),
    event("path-upper-case", "storage.object.read", ago(days=4), actor={"id": "svc"},
          description="read BKT_4F3A9C21D7/ASSETS/IMG/2025-12/77AA31B9C2.WEBP"),
    event("path-parts-apart", "storage.object.read", ago(days=5), actor={"id": "svc"},
          description="bkt_4f3a9c21d7/assets/img/2025-11/77aa31b9c2.webp and 2025-12 are not the same path"),
]

# Each filter and the events that match it, worked out by hand from EVENTS.
MATCHES = [
    ({"actor": "kim"}, {"kim-by-id", "kim-by-name", "kim-by-id-and-name"}),
    ({"actor": "kim@example.org"}, {"kim-by-email"}),
    ({"actor": "lee"}, {"lee-login", "lee-denied", "lee-failed"}),
    ({"event_type": "authentication"},
     {"kim-by-id", "kim-by-name", "kim-by-email", "lee-login", "authentication-itself"}),
    ({"status": "failed,denied"}, {"kim-by-id", "kim-by-id-and-name", "kim-by-email", "lee-denied", "lee-failed"}),
    ({"status": "failed,denied", "start_date": ago(hours=24)},
     {"kim-by-id", "kim-by-id-and-name", "kim-by-email", "lee-denied"}),
    ({"severity": "high"}, {"kim-by-id-and-name", "lee-failed", "old-high"}),
    ({"severity": "high", "start_date": ago(days=7)}, {"kim-by-id-and-name", "lee-failed"}),
    ({"actor": "kim", "status": "failed,denied"}, {"kim-by-id", "kim-by-id-and-name"}),
    ({"tags": "authentication"}, {"old-high", "tagged-now", "tagged-earlier", "tagged-last-week"}),
    ({"tags": "authentication", "start_date": ago(days=7)}, {"tagged-now", "tagged-earlier", "tagged-last-week"}),
    ({"tags": "mfa", "start_date": ago(hours=24)}, {"tagged-now", "tagged-earlier"}),
    ({"q": "bkt_4f3a9c21d7/assets/img/2025-12/77aa31b9c2.webp"}, {"path-whole", "path-upper-case"}),
    ({"q": '"bkt_4f3a9c21d7/assets" OR 77aa31b9c2'}, {"path-whole", "path-upper-case", "path-parts-apart"}),
    ({"q": "kim OR lee"}, {"kim-by-id", "kim-by-name", "kim-by-id-and-name", "kim-by-email", "lee-login",
                           "lee-denied", "lee-failed"}),
]

pytestmark = pytest.mark.django_db

log = stored_for_module(EVENTS)


@pytest.fixture
def api(log, read_api) -> ApiClient:
    return read_api


def newest_first(event_ids: set[str]) -> list[str]:
    """The events in the list's order, read straight from the table: newest first, then by seq."""
    rows = Event.objects.filter(event_id__in=event_ids).order_by("-occurred_at", "-seq")
    return list(rows.values_list("event_id", flat=True))


@pytest.mark.parametrize("params, expected", MATCHES, ids=[str(params) for params, _ in MATCHES])
@pytest.mark.parametrize("cap", [1, 2, 3, 10_000])
@pytest.mark.parametrize("sorted_", [False, True], ids=["walked", "sorted"])
def test_the_count_and_the_first_page_are_the_matches_whatever_the_cap_and_the_plan(
        api, monkeypatch, params, expected, cap, sorted_):
    monkeypatch.setattr(reads, "COUNT_CAP", cap)
    monkeypatch.setattr(reads, "_sorts_matches", lambda total, table_rows: sorted_)

    body = api.get(LOGS, {**params, "limit": 2}).json()

    assert (body["total_count"], body["total_count_exact"]) == (min(len(expected), cap), len(expected) <= cap)
    assert [entry["event_id"] for entry in body["audit_logs"]] == newest_first(expected)[:2]


@pytest.mark.parametrize("params, expected", MATCHES, ids=[str(params) for params, _ in MATCHES])
def test_following_the_cursor_lists_every_match_once_in_order(api, params, expected):
    seen, page = [], api.get(LOGS, {**params, "limit": 2}).json()
    while True:
        seen += [entry["event_id"] for entry in page["audit_logs"]]
        if not page["next_page"]:
            break
        page = api.get(page["next_page"]).json()

    assert seen == newest_first(expected)


def test_an_actor_matched_by_id_and_name_in_one_event_is_counted_once(api):
    body = api.get(LOGS, {"actor": "kim"}).json()

    assert (body["total_count"], body["total_count_exact"]) == (3, True)
