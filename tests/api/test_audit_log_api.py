"""GET /api/v1/audit-logs: every filter parameter against a small log where the answer is known,
paging (limit, cursor, offset, sort), and the 400s that name the parameter at fault.

The log is ingested once for the module inside a transaction rolled back at the end (the
events table refuses DELETE); times are relative to the moment the module is loaded, because
the API anchors `range` and `now-24h` on the real clock.
"""
from __future__ import annotations

import re

import pytest
from django.utils import timezone

from apps.search import reads
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient
from tests.logbook import ago_from, event, stored_for_module

LOGS = "/api/v1/audit-logs"
NOW = timezone.now()


ago = ago_from(NOW)


EVENTS = [
    event("l-login-fail", "auth.login", ago(minutes=10), status="failed", severity="medium",
          actor={"id": "u_alice", "name": "Alice Martin", "email": "Alice@Example.com"}, auth_method="password",
          ip_address="203.0.113.45", project="acme", trace_id="tr-1", tags=["brute-force"]),
    event("l-login-ok", "auth.login", ago(minutes=50), status="success",
          actor={"id": "u_alice", "email": "alice@example.com"}, auth_method="saml", ip_address="10.1.2.3",
          project="acme", trace_id="tr-1"),
    event("l-role-update", "iam.role.update", ago(hours=3), severity="high", status="denied",
          actor={"id": "u_bob", "email": "bob@example.com"}, resource={"type": "role", "id": "role-admin"},
          project="acme", tags=["privilege"], description="Bob tried to make himself an administrator"),
    event("l-role-create", "iam.role.create", ago(days=2), severity="critical",
          actor={"id": "u_bob"}, resource={"type": "role", "id": "role-ops"}, project="globex"),
    event("l-authn", "authentication.login", ago(days=3), status="failed", actor={"id": "user-carol-003"},
          ip_address="198.51.100.7", auth_method="oidc"),
    event("l-bucket", "storage.bucket.delete", ago(days=10), severity="low",
          resource={"type": "bucket", "id": "b-1", "name": "invoices-2025"}, ip_address="2001:db8::7",
          tags=["cost", "cleanup"], project="globex"),
    event("l-old", "billing.invoice.generate", ago(days=60), project="globex"),
]
ALL = {raw["event_id"] for raw in EVENTS}

pytestmark = pytest.mark.django_db


log = stored_for_module(EVENTS)


@pytest.fixture
def api(log, read_api) -> ApiClient:
    return read_api


def listed(api: ApiClient, params: dict) -> set[str]:
    response = api.get(LOGS, {"limit": 1000, **params})
    assert response.status_code == 200, response.content[:500]
    return {entry["event_id"] for entry in response.json()["audit_logs"]} & ALL


CASES = [
    ("no filter lists everything", {}, ALL),
    ("actor matches an email ignoring case", {"actor": "alice@example.com"}, {"l-login-fail", "l-login-ok"}),
    ("actor matches a name", {"actor": "alice martin"}, {"l-login-fail"}),
    ("actor takes a wildcard", {"actor": "*@example.com"}, {"l-login-fail", "l-login-ok", "l-role-update"}),
    ("user_id matches the actor id", {"user_id": "U_BOB"}, {"l-role-update", "l-role-create"}),
    ("action is exact", {"action": "iam.role.update"}, {"l-role-update"}),
    ("action takes a prefix", {"action": "iam.role.*"}, {"l-role-update", "l-role-create"}),
    ("event_type finds actions below it", {"event_type": "iam.role"}, {"l-role-update", "l-role-create"}),
    ("event_type finds a category by its alias", {"event_type": "authentication"},
     {"l-login-fail", "l-login-ok", "l-authn"}),
    ("event_type takes a comma list", {"event_type": "storage,billing"}, {"l-bucket", "l-old"}),
    ("resource_type is exact", {"resource_type": "role"}, {"l-role-update", "l-role-create"}),
    ("resource_id is exact", {"resource_id": "role-ops"}, {"l-role-create"}),
    ("outcome takes its synonyms", {"outcome": "failed"}, {"l-login-fail", "l-authn"}),
    ("status is another name for outcome", {"status": "denied"}, {"l-role-update"}),
    ("status takes several values", {"status": "failure,denied"}, {"l-login-fail", "l-authn", "l-role-update"}),
    ("severity takes several values", {"severity": "high,critical"}, {"l-role-update", "l-role-create"}),
    ("ip matches one address", {"ip": "203.0.113.45"}, {"l-login-fail"}),
    ("ip matches a CIDR block", {"ip": "10.0.0.0/8"}, {"l-login-ok"}),
    ("ip matches a wildcard", {"ip": "198.51.*"}, {"l-authn"}),
    ("ip matches an IPv6 block", {"ip": "2001:db8::/32"}, {"l-bucket"}),
    ("project is exact", {"project": "globex"}, {"l-role-create", "l-bucket", "l-old"}),
    ("trace_id is exact", {"trace_id": "tr-1"}, {"l-login-fail", "l-login-ok"}),
    ("category is exact", {"category": "iam"}, {"l-role-update", "l-role-create"}),
    ("auth_method is exact", {"auth_method": "oidc"}, {"l-authn"}),
    ("tags match any of the tags", {"tags": "privilege,cleanup"}, {"l-role-update", "l-bucket"}),
    ("start_date keeps what came after", {"start_date": ago(hours=4)}, {"l-login-fail", "l-login-ok", "l-role-update"}),
    ("end_date keeps what came before", {"end_date": ago(days=5)}, {"l-bucket", "l-old"}),
    ("start_date and end_date make a window", {"start_date": ago(days=4), "end_date": ago(days=1)},
     {"l-role-create", "l-authn"}),
    ("start_date takes a relative time", {"start_date": "now-1h"}, {"l-login-fail", "l-login-ok"}),
    ("range is a preset window", {"range": "24h"}, {"l-login-fail", "l-login-ok", "l-role-update"}),
    ("q is the query language", {"q": "event_type:auth.login AND status:failed AND timestamp:>now-24h"},
     {"l-login-fail"}),
    ("q finds free text", {"q": "administrator"}, {"l-role-update"}),
    ("q finds a resource name as free text", {"q": "invoices-2025"}, {"l-bucket"}),
    ("filters combine with AND", {"project": "acme", "severity": "high", "range": "7d"}, {"l-role-update"}),
    ("a filter combines with q", {"actor": "u_alice", "q": "ip:10.0.0.0/8"}, {"l-login-ok"}),
]


@pytest.mark.parametrize(("name", "params", "expected"), CASES, ids=[case[0] for case in CASES])
def test_each_filter_selects_the_events_it_names(api, name, params, expected):
    assert listed(api, params) == expected


# --- paging --------------------------------------------------------------------------------------


def test_the_body_counts_the_matches_and_the_page(api):
    body = api.get(LOGS, {"project": "acme", "limit": 2}).json()

    assert (body["total_count"], body["total_count_exact"], body["returned_count"]) == (3, True, 2)
    assert body["next_page"].startswith(LOGS + "?")
    assert "project=acme" in body["next_page"]


def test_next_page_walks_every_match_once_newest_first(api):
    seen, url = [], f"{LOGS}?limit=2"
    while url:
        body = api.get(url).json()
        seen += [entry["event_id"] for entry in body["audit_logs"]]
        url = body["next_page"]

    assert seen == [raw["event_id"] for raw in EVENTS]


def test_sort_asc_lists_oldest_first_and_its_cursor_keeps_the_order(api):
    first = api.get(LOGS, {"sort": "asc", "limit": 3}).json()
    second = api.get(first["next_page"]).json()

    ids = [entry["event_id"] for entry in first["audit_logs"] + second["audit_logs"]]
    assert ids == [raw["event_id"] for raw in reversed(EVENTS)][:6]


def test_offset_skips_events_like_seed_001s_limit_and_offset(api):
    body = api.get(LOGS, {"limit": 2, "offset": 2}).json()

    assert [entry["event_id"] for entry in body["audit_logs"]] == ["l-role-update", "l-role-create"]
    assert "offset" not in body["next_page"]


def test_the_count_stops_at_the_cap_and_says_so(api, monkeypatch):
    monkeypatch.setattr(reads, "COUNT_CAP", 3)

    body = api.get(LOGS).json()

    assert (body["total_count"], body["total_count_exact"], body["returned_count"]) == (3, False, 7)


COUNTED = [
    {"user_id": "u_alice"},
    {"event_type": "authentication"},
    {"project": "acme", "action": "iam.*", "severity": "medium,high"},
    {"project": "acme"},
    {"outcome": "failed"},
    {"q": "role-admin OR invoices-2025 OR administrator"},
]


@pytest.mark.parametrize("params", COUNTED, ids=[str(p) for p in COUNTED])
@pytest.mark.parametrize("cap", [1, 2, 3, 10_000])
@pytest.mark.parametrize("sorted_", [False, True], ids=["walked", "sorted"])
def test_the_count_is_exact_up_to_the_cap_and_the_first_page_is_the_same_however_it_is_read(
        api, monkeypatch, params, cap, sorted_):
    # Whether the page walks a time index or sorts the matches (reads decides from the count
    # and the table's size), the events and the count are the same.
    everything = [entry["event_id"] for entry in api.get(LOGS, {**params, "limit": 1000}).json()["audit_logs"]]
    monkeypatch.setattr(reads, "COUNT_CAP", cap)
    monkeypatch.setattr(reads, "_sorts_matches", lambda total, table_rows: sorted_)

    body = api.get(LOGS, {**params, "limit": 2}).json()

    assert (body["total_count"], body["total_count_exact"]) == (min(len(everything), cap), len(everything) <= cap)
    assert [entry["event_id"] for entry in body["audit_logs"]] == everything[:2]


def test_a_cursor_for_one_order_is_refused_in_the_other(api):
    newest = api.get(LOGS, {"limit": 1}).json()
    cursor = newest["next_page"].split("cursor=")[1]

    response = api.get(LOGS, {"limit": 1, "sort": "asc", "cursor": cursor})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


def test_a_project_limited_token_lists_only_its_project(log):
    api = ApiClient(token_issue(scope="read", projects=["globex"]).secret)

    assert listed(api, {}) == {"l-role-create", "l-bucket", "l-old"}
    assert listed(api, {"project": "acme"}) == set()


# --- refusals ------------------------------------------------------------------------------------


BAD = [
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "10001"}, "offset"),
    ({"offset": "two"}, "offset"),
    ({"sort": "sideways"}, "sort"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"status": "exploded"}, "status"),
    ({"outcome": "exploded"}, "outcome"),
    ({"ip": "300.1.2.3"}, "ip"),
    ({"ip": "10.0.0.0/99"}, "ip"),
    ({"start_date": "the day before yesterday"}, "start_date"),
    ({"end_date": "2026-13-45"}, "end_date"),
    ({"range": "fortnight"}, "range"),
    ({"actr": "bob"}, "actr"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "abc.n2", "offset": "5"}, "offset"),
]


@pytest.mark.parametrize(("params", "field"), BAD, ids=[next(iter(p)) + "=" + next(iter(p.values())) for p, _ in BAD])
def test_a_bad_parameter_is_a_400_that_names_it(api, params, field):
    response = api.get(LOGS, params)

    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["error"]
    assert field in {error["field"] for error in body["errors"]}, body
    for error in body["errors"]:
        assert {"index", "field", "message"} <= set(error)
        assert error["index"] is None


def test_a_query_error_gives_its_position(api):
    response = api.get(LOGS, {"q": "status:failed AND nosuchfield:x"})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "q"
    assert error["position"] == 18
    assert error["column"] == 19
    assert "nosuchfield" in error["message"]


def test_every_bad_parameter_is_named_at_once(api):
    response = api.get(LOGS, {"limit": "0", "severity": "x", "bogus": "1"})

    assert {error["field"] for error in response.json()["errors"]} == {"limit", "severity", "bogus"}


def test_the_viewers_column_choice_is_accepted_and_ignored(api):
    assert api.get(LOGS, {"cols": "time,actor"}).status_code == 200


ODD_VALUES = ["", " ", "*", "**", "%", "_", "\\", "'", '"', "\u00e9", "\x00", "a" * 5000, "(", ")", "1e309",
              "::", "/", "-1", "0x10", "null", "[]", "{}", "now-99999999y", "9999-12-31", "0001-01-01"]


def test_odd_values_in_any_parameter_never_give_a_500(api):
    names = ["q", "actor", "user_id", "action", "event_type", "category", "outcome", "status", "severity",
             "resource_type", "resource_id", "project", "ip", "auth_method", "trace_id", "tags", "start_date",
             "end_date", "range", "limit", "offset", "cursor", "before", "sort"]
    for name in names:
        for value in ODD_VALUES:
            response = api.get(LOGS, {name: value})
            assert response.status_code in (200, 400), (name, value, response.status_code, response.content[:300])


# --- one rule for event_type ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["authentication", "iam.role", "iam", "storage,billing", "auth.login", "iam.*"])
def test_the_viewers_event_type_selects_the_same_events_as_the_apis(api, browser_for, value):
    # A URL copied from the console works against the API and back: the same rule on both sides.
    page = browser_for("analyst").get("/events/", {"event_type": value})
    shown = set(re.findall(r'<tr class="event-row" data-event="([^"]+)"', page.content.decode())) & ALL

    assert shown
    assert shown == listed(api, {"event_type": value})


def test_the_viewer_keeps_an_event_type_from_the_url_in_its_form(api, browser_for):
    body = browser_for("analyst").get("/events/", {"event_type": "authentication"}).content.decode()

    assert 'name="event_type" value="authentication"' in body
