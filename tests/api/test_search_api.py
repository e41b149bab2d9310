"""POST /api/v1/audit-logs/search: seed 001's and seed 004's bodies as written, seed 004's answer
(each event verified in its chain), paging by page and by cursor, and refusals naming the key.
"""
from __future__ import annotations

import json

import pytest

from apps.rbac.tokens import token_issue
from tests.factories import ApiClient
from tests.logbook import event, stored_for_module

SEARCH = "/api/v1/audit-logs/search"


EVENTS = [
    # Seed 001: resource deletions around March 2026.
    event("s1-delete-ec2", "resource.delete", "2026-03-05T10:00:00Z",
          actor={"email": "admin@company.com"}, resource={"type": "ec2_instance", "id": "i-0123"}),
    event("s1-delete-ec2-last-second", "resource.delete", "2026-03-10T23:59:59.500Z",
          actor={"email": "admin@company.com"}, resource={"type": "ec2_instance", "id": "i-0456"}),
    event("s1-delete-s3", "resource.delete", "2026-03-05T11:00:00Z",
          actor={"email": "admin@company.com"}, resource={"type": "s3_bucket", "id": "logs"}),
    event("s1-delete-by-user", "resource.delete", "2026-03-06T09:00:00Z",
          actor={"email": "user@company.com"}, resource={"type": "ec2_instance", "id": "i-0789"}),
    event("s1-delete-february", "resource.delete", "2026-02-27T09:00:00Z",
          actor={"email": "admin@company.com"}, resource={"type": "ec2_instance", "id": "i-0abc"}),
    event("s1-modify", "resource.modify", "2026-03-05T12:00:00Z",
          actor={"email": "admin@company.com"}, resource={"type": "ec2_instance", "id": "i-0123"}),
    # Seed 004: sign-ins and access checks in January 2024.
    event("s4-alice-failed", "authentication.login", "2024-01-15T10:30:00.123Z", status="failed", severity="medium",
          actor={"id": "user-alice-001", "email": "alice@company.com"}, ip_address="203.0.113.42",
          auth_method="password", metadata={"failure_reason": "invalid_password", "attempts_count": 3}),
    event("s4-bob-blocked", "authorization.check", "2024-01-20T08:00:00Z", status="blocked", severity="high",
          actor={"id": "user-bob-002"}, ip_address="203.0.113.77", category="authorization"),
    event("s4-alice-success", "authentication.login", "2024-01-16T10:30:00Z", status="success", severity="medium",
          actor={"id": "user-alice-001"}, ip_address="203.0.113.42"),
    event("s4-alice-elsewhere", "authentication.login", "2024-01-17T10:30:00Z", status="failed", severity="medium",
          actor={"id": "user-alice-001"}, ip_address="10.0.0.5"),
    event("s4-carol", "authentication.login", "2024-01-18T10:30:00Z", status="failed", severity="high",
          actor={"id": "user-carol-003"}, ip_address="203.0.113.9"),
    event("s4-alice-february", "authentication.login", "2024-02-01T10:30:00Z", status="failed", severity="high",
          actor={"id": "user-alice-001"}, ip_address="203.0.113.42"),
    event("s4-alice-low", "authentication.login", "2024-01-19T10:30:00Z", status="failed", severity="low",
          actor={"id": "user-alice-001"}, ip_address="203.0.113.42"),
    event("s4-alice-compute", "compute.server.create", "2024-01-19T11:30:00Z", status="failed", severity="high",
          actor={"id": "user-alice-001"}, ip_address="203.0.113.42"),
]
ALL = {raw["event_id"] for raw in EVENTS}

SEED_001_BODY = {
    "query": "event_type:resource.delete",
    "start_time": "2026-03-01T00:00:00Z",
    "end_time": "2026-03-10T23:59:59Z",
    "filters": {"user": "admin@company.com", "resource_type": "ec2_instance"},
}

SEED_004_BODY = {
    "filters": {
        "event_types": ["authentication", "authorization"],
        "date_range": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-31T23:59:59Z"},
        "actors": {"user_ids": ["user-alice-001", "user-bob-002"], "ip_addresses": ["203.0.113.0/24"]},
        "status": ["failed", "blocked"],
        "severity": ["medium", "high", "critical"],
    },
    "sort": {"field": "timestamp", "order": "desc"},
    "limit": 1000,
    "include_details": True,
}

pytestmark = pytest.mark.django_db


log = stored_for_module(EVENTS)


@pytest.fixture
def api(log, read_api) -> ApiClient:
    return read_api


def found(api: ApiClient, body: dict) -> list[str]:
    response = api.post(SEARCH, body)
    assert response.status_code == 200, response.content[:500]
    return [entry["event_id"] for entry in response.json()["audit_logs"] if entry["event_id"] in ALL]


def test_seed_001s_search_body_finds_the_admins_ec2_deletions_in_the_window(api):
    assert found(api, SEED_001_BODY) == ["s1-delete-ec2-last-second", "s1-delete-ec2"]


def test_seed_004s_search_body_finds_the_failed_and_blocked_sign_ins_and_checks(api):
    assert found(api, SEED_004_BODY) == ["s4-bob-blocked", "s4-alice-failed"]


def test_the_answer_has_seed_004s_shape_with_each_event_verified(api):
    body = api.post(SEARCH, SEED_004_BODY).json()

    assert {"total_count", "returned_count", "page", "audit_logs", "next_page"} <= set(body)
    assert (body["total_count"], body["returned_count"], body["page"], body["next_page"]) == (2, 2, 1, None)
    alice = body["audit_logs"][1]
    assert alice["timestamp"] == "2024-01-15T10:30:00.123000Z"
    assert (alice["action"], alice["outcome"], alice["severity"]) == ("authentication.login", "failure", "medium")
    assert alice["actor"]["id"] == "user-alice-001"
    assert alice["metadata"]["failure_reason"] == "invalid_password"
    assert set(alice["verification"]) == {"seq", "hash", "prev_hash", "verified"}
    assert alice["verification"]["verified"] is True
    assert alice["verification"]["hash"].startswith("sha256:")


def test_without_details_the_answer_leaves_out_metadata_and_changes(api):
    body = api.post(SEARCH, {**SEED_004_BODY, "include_details": False}).json()

    assert "metadata" not in body["audit_logs"][0]
    assert "changes" not in body["audit_logs"][0]


def test_an_empty_body_searches_everything_newest_first(api):
    assert found(api, {})[:2] == ["s1-delete-ec2-last-second", "s1-delete-by-user"]
    assert set(found(api, {})) == ALL


SEARCHES = [
    ("event_types match a category by alias", {"filters": {"event_types": ["authorization"]}}, {"s4-bob-blocked"}),
    ("event_type matches an action prefix", {"filters": {"event_type": "compute"}}, {"s4-alice-compute"}),
    ("status blocked means denied", {"filters": {"status": "blocked"}}, {"s4-bob-blocked"}),
    ("actors ip_addresses take a CIDR", {"filters": {"actors": {"ip_addresses": ["10.0.0.0/8"]}}},
     {"s4-alice-elsewhere"}),
    ("severity takes a list", {"filters": {"severity": ["low"]}}, {"s4-alice-low"}),
    ("project and tags are filters too", {"filters": {"project": "none"}}, set()),
    ("ip takes a wildcard", {"filters": {"ip": "203.0.113.*"}, "query": "actor.id:user-carol-003"}, {"s4-carol"}),
    ("q is another name for query", {"q": "resource.type:s3_bucket"}, {"s1-delete-s3"}),
    ("a date as end_time covers its whole day",
     {"start_time": "2024-02-01", "end_time": "2024-02-01"}, {"s4-alice-february"}),
    ("start_time alone keeps everything after it", {"start_time": "2026-03-06T00:00:00Z"},
     {"s1-delete-by-user", "s1-delete-ec2-last-second"}),
]


@pytest.mark.parametrize(("name", "body", "expected"), SEARCHES, ids=[case[0] for case in SEARCHES])
def test_each_body_filter_selects_the_events_it_names(api, name, body, expected):
    assert set(found(api, body)) == expected


def test_sort_asc_lists_oldest_first(api):
    assert found(api, {"sort": {"field": "timestamp", "order": "asc"}})[:2] == ["s4-alice-failed", "s4-alice-success"]


def test_pages_follow_by_number_and_by_cursor(api):
    body = {"filters": {"actors": {"user_ids": ["user-alice-001"]}}, "limit": 2}
    first = api.post(SEARCH, body).json()
    by_cursor = api.post(SEARCH, {**body, "cursor": first["next_page"]}).json()
    by_number = api.post(SEARCH, {**body, "page": 2}).json()

    assert (first["total_count"], first["page"], by_cursor["page"], by_number["page"]) == (6, 1, 2, 2)
    assert [e["event_id"] for e in by_cursor["audit_logs"]] == [e["event_id"] for e in by_number["audit_logs"]]
    assert not {e["event_id"] for e in first["audit_logs"]} & {e["event_id"] for e in by_cursor["audit_logs"]}
    third = api.post(SEARCH, {**body, "cursor": by_cursor["next_page"]}).json()
    assert (third["page"], third["returned_count"], third["next_page"]) == (3, 2, None)


def test_a_token_limited_to_a_window_searches_only_inside_it(log):
    api = ApiClient(token_issue(scope="auditor", window_start=_at("2024-01-01"), window_end=_at("2024-01-18")).secret)

    assert set(found(api, {})) == {"s4-alice-failed", "s4-alice-success", "s4-alice-elsewhere"}


def test_a_user_token_searches_only_what_the_user_sees(log, people):
    alice = people["regular"]
    # The Regular User persona, under the account name seed 004's system gives her.
    type(alice).objects.filter(pk=alice.pk).update(username="user-alice-001")
    alice.refresh_from_db()
    api = ApiClient(token_issue(scope="read", user=alice).secret)

    assert set(found(api, {})) == {e for e in ALL if e.startswith("s4-alice")}


def _at(text: str):
    from datetime import datetime, timezone

    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# --- refusals ------------------------------------------------------------------------------------


REFUSED = [
    ({"querry": "x"}, "querry"),
    ({"filters": {"usr": "bob"}}, "filters.usr"),
    ({"filters": {"actors": {"user_id": ["bob"]}}}, "filters.actors.user_id"),
    ({"filters": {"date_range": {"from": "2024-01-01"}}}, "filters.date_range.from"),
    ({"filters": {"date_range": {"start": "yesterday-ish"}}}, "filters.date_range.start"),
    ({"filters": {"date_range": {"start": "2024-02-01", "end": "2024-01-01"}}}, "filters.date_range.end"),
    ({"filters": {"status": ["failed", "exploded"]}}, "filters.status"),
    ({"filters": {"severity": "apocalyptic"}}, "filters.severity"),
    ({"filters": {"severity": []}}, "filters.severity"),
    ({"filters": {"severity": [3]}}, "filters.severity"),
    ({"filters": {"actors": {"ip_addresses": ["203.0.113.0/33"]}}}, "filters.actors.ip_addresses"),
    ({"filters": {"actors": ["bob"]}}, "filters.actors"),
    ({"filters": "bob"}, "filters"),
    ({"start_time": "soon"}, "start_time"),
    ({"start_time": 1704067200}, "start_time"),
    ({"end_time": "2024-01-01", "start_time": "2024-02-01"}, "end_time"),
    ({"sort": {"field": "severity"}}, "sort.field"),
    ({"sort": {"order": "up"}}, "sort.order"),
    ({"sort": {"field": "timestamp", "direction": "asc"}}, "sort.direction"),
    ({"sort": "desc"}, "sort"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"limit": "lots"}, "limit"),
    ({"limit": True}, "limit"),
    ({"page": 0}, "page"),
    ({"page": 100, "limit": 1000}, "page"),
    ({"cursor": "garbage.x"}, "cursor"),
    ({"cursor": 5}, "cursor"),
    ({"include_details": "yes"}, "include_details"),
    ({"query": 42}, "query"),
    ({"query": "a", "q": "b"}, "q"),
    ({"format": "csv"}, "format"),
    ({"filters": {"user": "bob\x00"}}, "filters.user"),
]


@pytest.mark.parametrize(("body", "field"), REFUSED, ids=[json.dumps(body)[:60] for body, _ in REFUSED])
def test_a_bad_key_or_value_is_a_400_that_names_it(api, body, field):
    response = api.post(SEARCH, body)

    assert response.status_code == 400, response.content[:300]
    errors = response.json()["errors"]
    assert field in {error["field"] for error in errors}, errors
    assert all(error["index"] is None and error["message"] for error in errors)


def test_a_query_error_in_a_body_gives_its_position(api):
    response = api.post(SEARCH, {"query": "event_type:resource.delete AND (status:failed"})

    [error] = response.json()["errors"]
    assert error["field"] == "query"
    assert isinstance(error["position"], int)
    assert error["column"] == error["position"] + 1


@pytest.mark.parametrize("raw", ["{", "[]", "null", '"text"', "\xff", '{"filters": {"user": ["a", {}]}}'])
def test_a_body_that_is_not_a_search_is_a_400_not_a_500(api, raw):
    response = api.post(SEARCH, raw=raw)

    assert response.status_code == 400
    assert response.json()["errors"]


def test_search_needs_a_read_token(log, ingest_api):
    assert ingest_api.post(SEARCH, {}).status_code == 403
    assert ApiClient(None).post(SEARCH, {}).status_code == 401
