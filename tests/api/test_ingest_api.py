"""The ingest and read API under /api/v1/, through HTTP with django.test.Client."""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from apps.events.models import Event
from apps.events.schema import REDACTED
from apps.rbac.models import ApiToken
from apps.rbac.tokens import token_issue, token_revoke
from tests.factories import ApiClient
from tests.factories import SEED_000, SEED_001, SEED_003, SEED_004

EVENTS = "/api/v1/events"
LOGS = "/api/v1/audit-logs"
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
MIB = 1024 * 1024

pytestmark = pytest.mark.django_db


def stored(event_id: str) -> Event:
    return Event.objects.get(event_id=event_id)


def assert_refused(response, status: int, *, count_before: int) -> dict:
    """The request was refused with `status`, a JSON error body, and nothing was stored."""
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"index", "field", "message"}
    assert Event.objects.count() == count_before
    return body


def at(minutes: int) -> str:
    """A timestamp `minutes` after a fixed start, so tests can order events by time."""
    return (datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes)).isoformat()


# --- what ingest accepts -----------------------------------------------------------------------


def test_it_accepts_one_event_object_and_answers_with_its_seq_and_hash(ingest_api):
    response = ingest_api.post(EVENTS, {"event_id": "one", "action": "auth.login", "actor": {"id": "bob"}})

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    [event] = body["events"]
    assert event["event_id"] == "one"
    assert event["status"] == "created"
    assert HASH.match(event["hash"])
    assert event["hash"] == stored("one").hash_hex
    assert event["seq"] == stored("one").seq


def test_it_accepts_a_batch_under_events_and_gives_consecutive_seqs(ingest_api):
    response = ingest_api.post(EVENTS, {"events": [{"event_id": f"b{i}", "action": "auth.login"} for i in range(5)]})

    assert response.status_code == 202
    events = response.json()["events"]
    assert [e["event_id"] for e in events] == [f"b{i}" for i in range(5)]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert len({e["hash"] for e in events}) == 5
    assert Event.objects.count() == 5


def test_it_accepts_a_bare_json_array(ingest_api):
    response = ingest_api.post(EVENTS, [{"event_id": "a1", "action": "auth.login"}, {"event_id": "a2", "action": "auth.logout"}])

    assert response.status_code == 202
    assert [e["event_id"] for e in response.json()["events"]] == ["a1", "a2"]
    assert stored("a2").action == "auth.logout"


def test_it_accepts_a_batch_of_one_thousand_events(ingest_api):
    response = ingest_api.post(EVENTS, {"events": [{"action": "auth.login", "actor": {"id": f"u{i}"}} for i in range(1000)]})

    assert response.status_code == 202
    assert response.json()["accepted"] == 1000
    assert Event.objects.count() == 1000


def test_it_stores_a_batch_in_a_fixed_number_of_queries(ingest_api, django_assert_max_num_queries):
    batch = {"events": [{"action": "auth.login", "actor": {"id": f"u{i}"}} for i in range(200)]}

    # Token lookup and last-use stamp, head lock, duplicate check, COPY, head update, the
    # rollup upsert and the live-view notification: never one per event.
    with django_assert_max_num_queries(12):
        assert ingest_api.post(EVENTS, batch).status_code == 202


def test_it_makes_an_event_id_when_the_client_sends_none(ingest_api):
    response = ingest_api.post(EVENTS, {"action": "auth.login"})

    event_id = response.json()["events"][0]["event_id"]
    assert event_id.startswith("evt_")
    assert stored(event_id).action == "auth.login"


def test_it_stores_seed_000s_camel_case_event(ingest_api):
    assert ingest_api.post(EVENTS, SEED_000).status_code == 202

    event = stored("evt_9f8e7d6c5b4a3210")
    assert event.occurred_at == datetime(2025, 10, 12, 14, 32, 8, 442000, tzinfo=timezone.utc)
    assert (event.actor_type, event.actor_id, event.actor_email) == ("user", "usr_a1b2c3d4", "admin@cloudnexus.io")
    assert event.action == "vps.scale.up"
    assert event.category == "compute"
    assert (event.resource_type, event.resource_id, event.region) == ("vps", "vps_7x8y9z0w", "us-east-1")
    assert event.ip_address == "203.0.113.42"
    assert (event.outcome, event.severity) == ("success", "info")
    assert event.metadata == {"previousSpec": "standard-2", "newSpec": "performance-4"}


def test_it_stores_seed_001s_nested_event(ingest_api):
    assert ingest_api.post(EVENTS, SEED_001).status_code == 202

    event = stored("evt_2026031012345678")
    assert event.action == "resource.modify"
    assert event.outcome == "success"
    assert event.tags == ["automation", "cost-optimization"]
    assert (event.ip_address, event.user_agent, event.session_id) == ("203.0.113.45", "Mozilla/5.0...", "sess_abcdef123456")
    assert event.changes == {"before": {"state": "running"}, "after": {"state": "stopped"}}
    assert event.request_id == "req_xyz789"
    assert event.metadata["resource"] == {"cloud_provider": "aws", "account_id": "123456789012"}
    assert event.metadata["action"]["operation"] == "stop_instance"
    assert event.metadata["api_version"] == "v2"


def test_it_stores_seed_003s_event_with_its_details(ingest_api):
    assert ingest_api.post(EVENTS, SEED_003).status_code == 202

    event = stored("audit-123")
    assert event.action == "discovery.scan.completed"
    assert event.category == "discovery"
    assert event.actor_name == "admin@company.com"
    assert event.description == "Discovery scan completed successfully"
    assert event.ip_address == "192.0.2.50"
    assert event.metadata["details"]["vaults_scanned"] == 12


def test_it_stores_seed_004s_event(ingest_api):
    assert ingest_api.post(EVENTS, SEED_004).status_code == 202

    event = stored("evt_001")
    assert event.action == "user_login"
    assert event.outcome == "failure"
    assert event.actor_id == "user-alice-001"
    assert event.actor_email == "alice@company.com"
    assert event.auth_method == "password"
    assert event.metadata["details"]["attempts_count"] == 3


def test_it_keeps_resource_tags_at_metadata_resource_tags(ingest_api):
    ingest_api.post(EVENTS, {"event_id": "t1", "event_type": "policy.update",
                             "resource": {"type": "policy", "id": "p1", "tags": {"Environment": "production"}}})

    assert stored("t1").metadata["resource"]["tags"]["Environment"] == "production"


def test_it_uses_the_given_category_or_derives_it_from_the_action(ingest_api):
    ingest_api.post(EVENTS, [{"event_id": "c1", "action": "vps.scale.up", "category": "security"},
                             {"event_id": "c2", "action": "iam.role.update"},
                             {"event_id": "c3", "action": "login.failed"}])

    assert [stored(i).category for i in ("c1", "c2", "c3")] == ["security", "iam", "auth"]


def test_it_redacts_sensitive_keys_before_storing_them(ingest_api):
    ingest_api.post(EVENTS, {
        "event_id": "r1",
        "action": "config.update",
        "actor": {"id": "u1", "apiKey": "AK-ACTOR-SECRET"},
        "metadata": {"db_password": "PW-SECRET", "deep": {"deeper": [{"token": "TOKEN-SECRET"}]}, "plain": "visible"},
        "changes": {"before": {"client_secret": "OLD-SECRET"}, "after": {"client_secret": "NEW-SECRET"}},
        "password": "TOP-SECRET",
    })

    event = stored("r1")
    assert event.metadata["db_password"] == REDACTED
    assert event.metadata["deep"]["deeper"][0]["token"] == REDACTED
    assert event.metadata["actor"]["apiKey"] == REDACTED
    assert event.metadata["password"] == REDACTED
    assert event.metadata["plain"] == "visible"
    assert event.changes == {"before": {"client_secret": REDACTED}, "after": {"client_secret": REDACTED}}
    row = json.dumps([event.metadata, event.changes])
    for secret in ("AK-ACTOR-SECRET", "PW-SECRET", "TOKEN-SECRET", "OLD-SECRET", "NEW-SECRET", "TOP-SECRET"):
        assert secret not in row


def test_it_accepts_a_structured_cloudevent(ingest_api):
    response = ingest_api.post(EVENTS, {
        "specversion": "1.0", "id": "ce-1", "source": "/iam", "type": "iam.role.update",
        "time": "2026-03-10T14:30:45Z", "datacontenttype": "application/json",
        "data": {"actor": {"id": "bob"}, "status": "success"},
    }, content_type="application/cloudevents+json")

    assert response.status_code == 202
    event = stored("ce-1")
    assert (event.action, event.actor_id, event.outcome) == ("iam.role.update", "bob", "success")
    assert event.occurred_at == datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)
    assert event.metadata["cloudevents"]["source"] == "/iam"


def test_it_accepts_a_cloudevents_batch(ingest_api):
    envelopes = [{"specversion": "1.0", "id": f"ceb-{i}", "source": "/s", "type": "auth.login", "data": {}} for i in range(3)]

    response = ingest_api.post(EVENTS, envelopes, content_type="application/cloudevents-batch+json")

    assert response.status_code == 202
    assert [e["event_id"] for e in response.json()["events"]] == ["ceb-0", "ceb-1", "ceb-2"]


def test_it_refuses_a_cloudevents_batch_that_is_not_an_array(ingest_api):
    response = ingest_api.post(EVENTS, {"specversion": "1.0", "id": "x", "source": "/s", "type": "a.b"},
                               content_type="application/cloudevents-batch+json")

    assert_refused(response, 400, count_before=0)


def test_it_accepts_a_binary_mode_cloudevent(ingest_api):
    response = ingest_api.post(EVENTS, {"actor": {"id": "carol"}, "status": "failed"}, headers={
        "ce-specversion": "1.0", "ce-id": "bin-1", "ce-type": "auth.login", "ce-source": "/idp",
        "ce-time": "2026-03-10T14:30:45Z",
    })

    assert response.status_code == 202
    event = stored("bin-1")
    assert (event.action, event.actor_id, event.outcome) == ("auth.login", "carol", "failure")
    assert event.occurred_at == datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)
    assert event.metadata["cloudevents"]["source"] == "/idp"


def test_it_refuses_a_binary_mode_cloudevent_without_its_required_headers(ingest_api):
    response = ingest_api.post(EVENTS, {"actor": {"id": "carol"}}, headers={"ce-specversion": "1.0", "ce-id": "bin-2"})

    body = assert_refused(response, 400, count_before=0)
    assert body["errors"][0]["field"] in ("source", "type")


# --- duplicates --------------------------------------------------------------------------------


def test_it_reports_an_event_id_sent_again_later_as_a_duplicate_and_stores_it_once(ingest_api):
    first = ingest_api.post(EVENTS, {"event_id": "dup", "action": "auth.login"}).json()["events"][0]

    again = ingest_api.post(EVENTS, {"events": [{"event_id": "dup", "action": "auth.login"}, {"event_id": "new", "action": "auth.login"}]})

    assert again.status_code == 202
    body = again.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert body["events"][0] == {**first, "status": "duplicate"}
    assert body["events"][1]["status"] == "created"
    assert Event.objects.count() == 2


def test_it_reports_an_event_id_repeated_within_one_batch_as_a_duplicate(ingest_api):
    response = ingest_api.post(EVENTS, [{"event_id": "twice", "action": "auth.login"}, {"event_id": "twice", "action": "auth.logout"}])

    first, second = response.json()["events"]
    assert (first["status"], second["status"]) == ("created", "duplicate")
    assert second["seq"] == first["seq"]
    assert second["hash"] == first["hash"]
    assert Event.objects.count() == 1
    assert stored("twice").action == "auth.login"


# --- refusals ----------------------------------------------------------------------------------


def test_it_refuses_a_batch_with_one_bad_event_and_stores_nothing(ingest, ingest_api):
    ingest({"event_id": "before", "action": "auth.login"})

    response = ingest_api.post(EVENTS, {"events": [
        {"event_id": "ok-1", "action": "auth.login"},
        {"event_id": "bad", "action": "auth.login", "ip_address": "not-an-ip"},
        {"event_id": "ok-2", "action": "auth.login"},
    ]})

    body = assert_refused(response, 400, count_before=1)
    assert body["errors"] == [{"index": 1, "field": "ip_address", "message": body["errors"][0]["message"]}]
    assert "not-an-ip" in body["errors"][0]["message"]


def test_it_reports_every_bad_event_of_a_batch_by_index_and_field(ingest_api):
    response = ingest_api.post(EVENTS, [
        {"action": "auth.login", "timestamp": "yesterday"},
        {"action": "auth.login"},
        {"status": "success"},
        {"action": "auth.login", "metadata": "not an object"},
    ])

    body = assert_refused(response, 400, count_before=0)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "timestamp"), (2, "action"), (3, "metadata")]


@pytest.mark.parametrize("raw", ['{"action": "auth.login"', "{'action': 'auth.login'}", "", "not json", '{"action": "a.b"} trailing'])
def test_it_refuses_malformed_json(ingest_api, raw):
    assert_refused(ingest_api.post(EVENTS, raw=raw), 400, count_before=0)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_it_refuses_nan_and_infinity_literals(ingest_api, literal):
    response = ingest_api.post(EVENTS, raw='{"action": "a.b", "metadata": {"x": %s}}' % literal)

    assert_refused(response, 400, count_before=0)


def test_it_refuses_a_body_that_is_not_utf_8(ingest_api):
    assert_refused(ingest_api.post(EVENTS, raw=b'{"action": "a.b", "x": "\xff\xfe"}'), 400, count_before=0)


def test_it_refuses_a_request_without_a_token():
    response = ApiClient(None).post(EVENTS, {"action": "auth.login"})

    assert_refused(response, 401, count_before=0)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "ac_no_scheme"])
def test_it_refuses_an_authorization_header_that_is_not_a_bearer_token(header):
    response = ApiClient(None).post(EVENTS, {"action": "auth.login"}, headers={"Authorization": header})

    assert_refused(response, 401, count_before=0)


@pytest.mark.parametrize("secret", ["ac_unknown", "ac_" + "x" * 43, "not-even-our-prefix", "ac_" + "x" * 500])
def test_it_refuses_an_unknown_token(secret):
    assert_refused(ApiClient(secret).post(EVENTS, {"action": "auth.login"}), 401, count_before=0)


def test_it_refuses_a_revoked_token():
    issued = token_issue(scope="ingest")
    token_revoke(token=issued.token)

    assert_refused(ApiClient(issued.secret).post(EVENTS, {"action": "auth.login"}), 401, count_before=0)


def test_it_refuses_an_expired_token():
    issued = token_issue(scope="ingest", expires_in=timedelta(hours=1))
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))

    assert_refused(ApiClient(issued.secret).post(EVENTS, {"action": "auth.login"}), 401, count_before=0)


def test_it_refuses_a_read_token_on_ingest_with_403(read_api):
    assert_refused(read_api.post(EVENTS, {"action": "auth.login"}), 403, count_before=0)


def test_it_refuses_an_auditor_token_on_ingest_with_403():
    issued = token_issue(scope="auditor", window_start=datetime(2026, 1, 1, tzinfo=timezone.utc),
                         window_end=datetime(2026, 2, 1, tzinfo=timezone.utc))

    assert_refused(ApiClient(issued.secret).post(EVENTS, {"action": "auth.login"}), 403, count_before=0)


def test_it_refuses_a_body_over_5_mib_with_413(ingest_api):
    padding = "x" * (5 * MIB)
    raw = json.dumps({"action": "auth.login", "metadata": {"padding": padding}})
    assert len(raw.encode()) > 5 * MIB

    assert_refused(ingest_api.post(EVENTS, raw=raw), 413, count_before=0)


def test_it_accepts_a_body_just_under_5_mib(ingest_api):
    raw = json.dumps({"event_id": "big", "action": "auth.login", "metadata": {"padding": "x" * (5 * MIB - 200)}})
    assert len(raw.encode()) <= 5 * MIB

    assert ingest_api.post(EVENTS, raw=raw).status_code == 202
    assert len(stored("big").metadata["padding"]) == 5 * MIB - 200


def test_it_refuses_more_than_one_thousand_events(ingest_api):
    response = ingest_api.post(EVENTS, {"events": [{"action": "auth.login"} for _ in range(1001)]})

    body = assert_refused(response, 400, count_before=0)
    assert "1000" in body["error"]


@pytest.mark.parametrize("body", [{"events": []}, []])
def test_it_refuses_an_empty_batch(ingest_api, body):
    assert_refused(ingest_api.post(EVENTS, body), 400, count_before=0)


@pytest.mark.parametrize("body", [{"events": "a"}, {"events": {"action": "a.b"}}, "auth.login", 42, None, True])
def test_it_refuses_a_body_that_is_neither_an_event_nor_a_batch(ingest_api, body):
    assert_refused(ingest_api.post(EVENTS, body), 400, count_before=0)


@pytest.mark.parametrize(("event", "field"), [
    ({"action": "auth.login", "ip_address": "300.1.2.3"}, "ip_address"),
    ({"action": "auth.login", "actor": {"id": "u", "ip_address": "localhost"}}, "ip_address"),
    ({"action": "auth.login", "timestamp": "2026-02-30T10:00:00Z"}, "timestamp"),
    ({"action": "auth.login", "timestamp": "last tuesday"}, "timestamp"),
    ({"action": "auth.login", "metadata": ["a", "list"]}, "metadata"),
    ({"action": "auth.login", "metadata": "text"}, "metadata"),
    ({"actor": {"id": "bob"}, "status": "success"}, "action"),
    ({"event_type": ""}, "action"),
    ({"action": "auth.login", "metadata": {"big": 2**53 + 1}}, "metadata.big"),
    ({"action": "auth.login", "metadata": {"ids": [1, 2, -(2**60)]}}, "metadata.ids[2]"),
])
def test_it_names_the_field_of_an_invalid_event(ingest_api, event, field):
    body = assert_refused(ingest_api.post(EVENTS, {"events": [event]}), 400, count_before=0)

    assert body["errors"][0]["index"] == 0
    assert body["errors"][0]["field"] == field


@pytest.mark.parametrize("event", [
    {"action": "auth.login", "description": "a\u0000b"},
    {"action": "auth.login", "metadata": {"note": "a\u0000b"}},
    {"action": "auth.login", "actor": {"id": "a\u0000b"}},
    {"action": "auth.login", "a\u0000b": "key with a NUL"},
])
def test_it_refuses_a_nul_character_in_a_string(ingest_api, event):
    body = assert_refused(ingest_api.post(EVENTS, event), 400, count_before=0)

    assert "NUL" in body["errors"][0]["message"]


@pytest.mark.parametrize("raw", [
    '{"action": "auth.\\ud800"}',
    '{"action": "auth.login", "metadata": {"k": "\\udfff"}}',
    '{"action": "auth.login", "\\ud800": 1}',
])
def test_it_refuses_a_lone_surrogate_in_a_string(ingest_api, raw):
    assert_refused(ingest_api.post(EVENTS, raw=raw), 400, count_before=0)


@pytest.mark.parametrize("raw", [
    "[" * 10_000 + "]" * 10_000,
    '{"a":' * 10_000 + "1" + "}" * 10_000,
    '{"action": "auth.login", "metadata": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}",
    '{"action": "auth.login", "metadata": ' + '{"a":' * 200 + "1" + "}" * 200 + "}",
    '{"action": "auth.login", "extra": ' + "[" * 200 + "]" * 200 + "}",
])
def test_it_refuses_deeply_nested_json_with_400(ingest_api, raw):
    assert_refused(ingest_api.post(EVENTS, raw=raw), 400, count_before=0)


def test_it_answers_405_to_a_get_on_the_ingest_endpoint(ingest_api):
    assert ingest_api.get(EVENTS).status_code == 405


_ODD_BODIES = [
    "", " ", "null", "true", "0", "-1", "1e400", '"a string"', "[]", "[[]]", "[[[[1]]]]", "{}", "[null]", "[{}]",
    "[1, \"a\", null]", '{"events": null}', '{"events": {}}', '{"events": [null]}', '{"events": [[{"action": "a.b"}]]}',
    '{"action": null}', '{"action": 1}', '{"action": 1.5}', '{"action": []}', '{"action": {}}', '{"action": true}',
    '{"action": {"status": {"x": 1}}}', '{"action": "a.b", "timestamp": null}', '{"action": "a.b", "timestamp": []}',
    '{"action": "a.b", "timestamp": 1e400}', '{"action": "a.b", "timestamp": -1e20}',
    '{"action": "a.b", "timestamp": 1%s}' % ("0" * 400), '{"action": "a.b", "timestamp": "0001-01-01T00:00:00+01:00"}',
    '{"action": "a.b", "timestamp": "9999-12-31T23:59:59-01:00"}', '{"action": "a.b", "timestamp": "\\ud800"}',
    '{"action": "a.b", "actor": []}', '{"action": "a.b", "actor": 1}', '{"action": "a.b", "actor": {"id": []}}',
    '{"action": "a.b", "actor": {"\\u0000": 1}}', '{"action": "a.b", "resource": [1, {"a": "\\ud800"}]}',
    '{"action": "a.b", "resource": 1.5}', '{"action": "a.b", "resource": {"tags": {"\\ud800": 1}}}',
    '{"action": "a.b", "request": "GET /"}', '{"action": "a.b", "request": {"status": "x"}}',
    '{"action": "a.b", "tags": {}}', '{"action": "a.b", "tags": [{}]}', '{"action": "a.b", "tags": [1, true]}',
    '{"action": "a.b", "status": {"result": "x", "reason": "y"}}', '{"action": "a.b", "status": [1]}',
    '{"action": "a.b", "status": {"result": {}}}', '{"action": "a.b", "status": true}',
    '{"action": "a.b", "severity": 1}', '{"action": "a.b", "severity": []}', '{"action": "a.b", "category": {}}',
    '{"action": "a.b", "ip_address": "fe80::1%eth0"}', '{"action": "a.b", "ip_address": ["1.2.3.4"]}',
    '{"action": "a.b", "ip_address": "::ffff:1.2.3.4"}', '{"action": "a.b", "metadata": {"ip": "nope"}}',
    '{"action": "a.b", "metadata": {"tags": 5}}', '{"action": "a.b", "metadata": {"details": []}}',
    '{"action": "a.b", "status_code": 1e400}', '{"action": "a.b", "status_code": "abc"}',
    '{"action": "a.b", "status_code": 99999999999999999999999}', '{"action": "a.b", "event_id": ""}',
    '{"action": "a.b", "event_id": "   "}', '{"action": "a.b", "event_id": 1.5}', '{"action": "a.b", "event_id": 1e400}',
    '{"action": "a.b", "event_id": 123456789012345678901234567890}', '{"action": "a.b", "event_id": "%s"}' % ("e" * 300),
    '{"action": "a.b", "metadata": {"a": 1e400}}', '{"action": "a.b", "metadata": {"n": -0.0, "f": 1.5e-300}}',
    '{"action": "a.b", "metadata": {"n": %s}}' % ("9" * 5000), '{"action": "a.b", "changes": []}',
    '{"action": "a.b", "changes": {"before": "\\ud800"}}', '{"action": "a.b", "description": "%s"}' % ("d" * 20_000),
    '{"action": "%s"}' % ("a" * 1_000_000), '{"action": "a.b", "metadata": {"huge": "%s"}}' % ("h" * 1_000_000),
    '{"action": "a.b", "metadata": {"unicode": "日本語 🔐 ünïcødé \\u202e"}}', '{"action": "認証.ログイン"}',
    '{"action": "a.b", "actor": {"name": "\\udfff\\ud800"}}', '{"\\ud800\\udc00": "paired surrogates are fine", "action": "a.b"}',
    '{"specversion": 1}', '{"specversion": "1.0"}', '{"specversion": "1.0", "id": {}, "source": "s", "type": "a.b"}',
    '{"specversion": "1.0", "id": "x", "source": "s", "type": {"a": 1}}',
    '{"specversion": "1.0", "id": "x", "source": "s", "type": "a.b", "data": "text"}',
    '{"specversion": "1.0", "id": "x", "source": "s", "type": "a.b", "data": {"metadata": "text"}}',
    '{"specversion": "1.0", "id": "x", "source": "s", "type": "a.b", "data": [1, 2]}',
    '{"eventType": "a.b", "events": []}', '{"events": [{"action": "a.b"}], "action": "x.y"}',
    '{"action": "a.b", "extra": %s}' % ("[" * 900 + "]" * 900),
]


def test_it_never_answers_500_to_odd_bodies(ingest_api):
    for raw in _ODD_BODIES:
        count_before = Event.objects.count()
        response = ingest_api.post(EVENTS, raw=raw)
        assert response.status_code in (202, 400, 413), (raw[:200], response.status_code, response.content[:300])
        if response.status_code != 202:
            assert Event.objects.count() == count_before, raw[:200]
            assert response.json()["errors"]


@pytest.mark.parametrize(("content_type", "headers"), [
    ("application/cloudevents-batch+json", {}),
    ("application/cloudevents+json", {}),
    ("application/json", {"ce-specversion": "1.0", "ce-id": "x", "ce-type": "a.b", "ce-source": "/s"}),
    ("application/json", {"ce-specversion": "2.0", "ce-id": "x", "ce-type": "a.b", "ce-source": "/s"}),
    ("text/plain", {}),
])
def test_it_never_answers_500_to_odd_bodies_in_any_envelope(ingest_api, content_type, headers):
    for raw in _ODD_BODIES[:40]:
        response = ingest_api.post(EVENTS, raw=raw, content_type=content_type, headers=headers)
        assert response.status_code in (202, 400, 413), (raw[:200], response.status_code, response.content[:300])


def test_it_refuses_a_malformed_content_length_without_a_500(ingest_api):
    response = ingest_api.client.post(EVENTS, data="{}", content_type="application/json", CONTENT_LENGTH="lots",
                                      headers={"Authorization": f"Bearer {ingest_api.secret}"})

    assert response.status_code in (400, 413)


# --- reading back: GET /api/v1/audit-logs -------------------------------------------------------


def test_it_lists_events_newest_first_with_the_documented_body(ingest, read_api):
    ingest(*({"event_id": f"e{i}", "action": "auth.login", "timestamp": at(i)} for i in (3, 1, 4, 2)))

    response = read_api.get(LOGS)

    assert response.status_code == 200
    body = response.json()
    assert {"total_count", "returned_count", "audit_logs", "next_page"} <= set(body)
    assert (body["total_count"], body["returned_count"], body["next_page"]) == (4, 4, None)
    assert [log["event_id"] for log in body["audit_logs"]] == ["e4", "e3", "e2", "e1"]


def test_each_listed_event_carries_its_place_in_the_chain(ingest, read_api):
    answer = ingest({"event_id": "v1", "action": "auth.login", "timestamp": at(1)},
                    {"event_id": "v2", "action": "auth.login", "timestamp": at(2)})

    newer, older = read_api.get(LOGS).json()["audit_logs"]

    assert newer["verification"] == {"seq": answer["events"][1]["seq"], "hash": answer["events"][1]["hash"],
                                     "prev_hash": older["verification"]["hash"]}
    assert HASH.match(older["verification"]["prev_hash"])


def test_it_lists_a_page_in_a_fixed_number_of_queries(ingest, read_api, django_assert_max_num_queries):
    ingest(*({"action": "auth.login", "timestamp": at(i)} for i in range(50)))

    with django_assert_max_num_queries(5):
        assert read_api.get(LOGS, {"limit": 50}).status_code == 200


def test_it_limits_the_number_of_events_returned(ingest, read_api):
    ingest(*({"action": "auth.login", "timestamp": at(i)} for i in range(5)))

    body = read_api.get(LOGS, {"limit": 2}).json()

    assert (body["total_count"], body["returned_count"], len(body["audit_logs"])) == (5, 2, 2)
    assert body["next_page"]


def test_it_pages_through_every_event_once_with_next_page(ingest, read_api):
    # Several events share a timestamp, so the cursor must break ties by seq.
    ingest(*({"event_id": f"p{i:02}", "action": "auth.login", "timestamp": at(i // 3)} for i in range(23)))
    expected = [e.event_id for e in Event.objects.order_by("-occurred_at", "-seq")]

    seen, url, pages = [], f"{LOGS}?limit=5", 0
    while url:
        body = read_api.get(url).json()
        seen += [log["event_id"] for log in body["audit_logs"]]
        url, pages = body["next_page"], pages + 1
        assert pages <= 10

    assert seen == expected
    assert len(set(seen)) == 23
    assert pages == 5


def test_a_new_event_does_not_shift_the_pages_being_read(ingest, read_api):
    ingest(*({"event_id": f"s{i}", "action": "auth.login", "timestamp": at(i)} for i in range(6)))
    first = read_api.get(LOGS, {"limit": 3}).json()
    ingest({"event_id": "latest", "action": "auth.login", "timestamp": at(100)})

    second = read_api.get(first["next_page"]).json()

    assert [log["event_id"] for log in second["audit_logs"]] == ["s2", "s1", "s0"]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "!!!", "MjAyNg", "eHx5"])
def test_it_refuses_a_cursor_it_did_not_give_out(read_api, cursor):
    response = read_api.get(LOGS, {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", ["1001", "0", "-1", "ten", "1e3"])
def test_it_refuses_a_limit_outside_one_to_one_thousand(read_api, limit):
    response = read_api.get(LOGS, {"limit": limit})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "limit"


def test_it_accepts_a_limit_of_one_thousand(read_api):
    assert read_api.get(LOGS, {"limit": 1000}).status_code == 200


def test_it_refuses_to_list_events_for_an_ingest_token(ingest_api):
    assert ingest_api.get(LOGS).status_code == 403


def test_it_refuses_to_list_events_without_a_token():
    assert ApiClient(None).get(LOGS).status_code == 401


def test_it_returns_one_event_by_its_id(ingest, read_api):
    ingest(SEED_000)

    response = read_api.get(f"{LOGS}/evt_9f8e7d6c5b4a3210")

    assert response.status_code == 200
    log = response.json()
    assert log["event_id"] == "evt_9f8e7d6c5b4a3210"
    assert log["action"] == "vps.scale.up"
    assert log["actor"]["email"] == "admin@cloudnexus.io"
    assert log["ip_address"] == "203.0.113.42"
    assert log["timestamp"] == "2025-10-12T14:32:08.442000Z"
    assert set(log["verification"]) == {"seq", "hash", "prev_hash"}


def test_it_answers_404_in_json_for_an_unknown_event_id(read_api):
    response = read_api.get(f"{LOGS}/evt_nope")

    assert response.status_code == 404
    assert response.json()["errors"]


def test_it_refuses_to_show_one_event_to_an_ingest_token(ingest, ingest_api):
    ingest({"event_id": "x1", "action": "auth.login"})

    assert ingest_api.get(f"{LOGS}/x1").status_code == 403


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# reads.decode_cursor accepts a time without a zone; Django warns when it reaches the query.
@pytest.mark.filterwarnings("ignore:DateTimeField Event.occurred_at received a naive datetime:RuntimeWarning")
def test_it_never_answers_500_to_odd_list_parameters(ingest, read_api):
    ingest({"action": "auth.login"})
    odd = [
        {"limit": "١٠"}, {"limit": "9" * 50}, {"limit": " 5 "}, {"cursor": "%%%"}, {"cursor": "\u00e9\u00e8"},
        {"cursor": "fA"}, {"cursor": "\x00"},
        {"cursor": _cursor("2026-01-01T00:00:00+00:00|" + "9" * 30)},  # a seq beyond bigint
        {"cursor": _cursor("2026-01-01T00:00:00|1")},  # a time without a zone
        {"cursor": _cursor("0001-01-01T00:00:00+14:00|1")},
        {"cursor": _cursor("9999-12-31T23:59:59.999999-14:00|1")},
        {"cursor": _cursor("2026-01-01T00:00:00+00:00|-5")},
    ]
    for params in odd:
        response = read_api.get(LOGS, params)
        assert response.status_code in (200, 400), (params, response.status_code, response.content[:300])



def test_a_project_limited_ingest_token_stamps_its_project_and_refuses_others(read_api):
    from apps.rbac.tokens import token_issue
    from tests.factories import ApiClient

    api = ApiClient(token_issue(scope="ingest", projects=["payments"]).secret)
    response = api.post("/api/v1/events", {"events": [{"action": "auth.login", "event_id": "p-1"}]})
    assert response.status_code == 202
    assert read_api.get("/api/v1/audit-logs/p-1").json()["project"] == "payments"

    before = read_api.get("/api/v1/audit-logs").json()["total_count"]
    response = api.post("/api/v1/events", {"events": [
        {"action": "auth.login", "event_id": "p-2", "project": "payments"},
        {"action": "auth.login", "event_id": "p-3", "project": "hr"},
    ]})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, "project")
    assert "payments" in error["message"]
    assert read_api.get("/api/v1/audit-logs").json()["total_count"] == before
