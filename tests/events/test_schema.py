"""Unit tests of normalize_event: the shapes clients send, turned into the stored fields."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from apps.events.schema import REDACTED, FieldError, normalize_event
from tests.factories import SEED_000, SEED_001, SEED_003, SEED_004

def normalize(raw):
    # normalize_event must not change what it was given (the API reports on the raw input).
    return normalize_event(copy.deepcopy(raw))


def field_error(raw) -> FieldError:
    with pytest.raises(FieldError) as caught:
        normalize(raw)
    return caught.value


# --- the seeds' shapes -------------------------------------------------------------------------


def test_it_reads_seed_000s_camel_case_event():
    event = normalize(SEED_000)

    assert event["event_id"] == "evt_9f8e7d6c5b4a3210"
    assert event["occurred_at"] == datetime(2025, 10, 12, 14, 32, 8, 442000, tzinfo=timezone.utc)
    assert (event["actor_type"], event["actor_id"], event["actor_email"]) == ("user", "usr_a1b2c3d4", "admin@cloudnexus.io")
    assert event["action"] == "vps.scale.up"
    assert (event["resource_type"], event["resource_id"], event["region"]) == ("vps", "vps_7x8y9z0w", "us-east-1")
    assert event["ip_address"] == "203.0.113.42"
    assert event["outcome"] == "success"
    assert event["severity"] == "info"
    assert event["category"] == "compute"
    assert event["metadata"] == {"previousSpec": "standard-2", "newSpec": "performance-4"}


def test_it_reads_seed_001s_nested_event():
    event = normalize(SEED_001)

    assert event["action"] == "resource.modify"
    assert event["outcome"] == "success"
    assert (event["actor_id"], event["actor_email"]) == ("user_12345", "admin@company.com")
    assert event["ip_address"] == "203.0.113.45"
    assert event["user_agent"] == "Mozilla/5.0..."
    assert event["session_id"] == "sess_abcdef123456"
    assert (event["resource_type"], event["resource_id"], event["region"]) == ("ec2_instance", "i-0123456789abcdef", "us-east-1")
    assert event["changes"] == {"before": {"state": "running"}, "after": {"state": "stopped"}}
    assert event["tags"] == ["automation", "cost-optimization"]
    assert event["request_id"] == "req_xyz789"
    assert event["metadata"]["resource"] == {"cloud_provider": "aws", "account_id": "123456789012"}
    assert event["metadata"]["action"] == {"operation": "stop_instance", "method": "api"}
    assert event["metadata"]["api_version"] == "v2"


def test_it_reads_seed_003s_event_and_keeps_its_details():
    event = normalize(SEED_003)

    assert event["event_id"] == "audit-123"
    assert event["action"] == "discovery.scan.completed"
    assert (event["actor_type"], event["actor_id"], event["actor_name"]) == ("user", "user-456", "admin@company.com")
    assert event["actor_email"] == "admin@company.com"
    assert (event["resource_type"], event["resource_id"]) == ("scan", "scan-789")
    assert event["description"] == "Discovery scan completed successfully"
    assert event["ip_address"] == "192.0.2.50"
    assert event["user_agent"] == "Mozilla/5.0..."
    # `secrets_found` is a count, not a secret: only keys named like a credential are redacted.
    assert event["metadata"]["details"] == {"mode": "full", "duration_seconds": 45, "vaults_scanned": 12, "secrets_found": 234}


def test_it_reads_seed_004s_event_with_its_auth_method_in_details():
    event = normalize(SEED_004)

    assert event["action"] == "user_login"
    assert event["outcome"] == "failure"
    assert event["severity"] == "medium"
    assert event["actor_id"] == "user-alice-001"
    assert event["actor_email"] == "alice@company.com"
    assert event["ip_address"] == "203.0.113.42"
    assert event["auth_method"] == "password"
    assert event["metadata"]["details"]["failure_reason"] == "invalid_password"
    # The event_type that did not become the action is kept, not dropped.
    assert event["metadata"]["event_type"] == "authentication"


def test_it_does_not_change_the_event_it_was_given():
    raw = copy.deepcopy(SEED_001)

    normalize_event(raw)

    assert raw == SEED_001


# --- keys and shapes ---------------------------------------------------------------------------


def test_it_reads_camel_case_and_snake_case_keys_alike():
    camel = normalize({"eventId": "e1", "eventType": "auth.login", "ipAddress": "10.0.0.1", "userAgent": "curl",
                       "sessionId": "s1", "traceId": "t1", "authMethod": "SAML"})
    snake = normalize({"event_id": "e1", "event_type": "auth.login", "ip_address": "10.0.0.1", "user_agent": "curl",
                       "session_id": "s1", "trace_id": "t1", "auth_method": "SAML"})

    for event in (camel, snake):
        assert event["event_id"] == "e1"
        assert event["action"] == "auth.login"
        assert event["ip_address"] == "10.0.0.1"
        assert event["user_agent"] == "curl"
        assert event["session_id"] == "s1"
        assert event["trace_id"] == "t1"
        assert event["auth_method"] == "saml"


def test_it_keeps_resource_tags_findable_under_metadata():
    event = normalize({"action": "policy.update", "resource": {"type": "bucket", "id": "b1", "tags": {"Environment": "production"}}})

    assert event["metadata"]["resource"]["tags"]["Environment"] == "production"


def test_it_keeps_unknown_top_level_keys_in_metadata_under_the_clients_spelling():
    event = normalize({"action": "auth.login", "customerTier": "gold", "nested": {"a": [1, 2]}})

    assert event["metadata"] == {"customerTier": "gold", "nested": {"a": [1, 2]}}


def test_it_lowercases_the_action():
    assert normalize({"action": "Auth.Login"})["action"] == "auth.login"


def test_it_makes_an_event_id_when_the_client_sends_none():
    first, second = normalize({"action": "auth.login"}), normalize({"action": "auth.login"})

    assert first["event_id"].startswith("evt_")
    assert first["event_id"] != second["event_id"]


def test_it_uses_the_given_category():
    assert normalize({"action": "vps.scale.up", "category": "Security"})["category"] == "security"


@pytest.mark.parametrize(("action", "category"), [
    ("auth.login", "auth"),
    ("authentication.login", "auth"),
    ("iam.role.update", "iam"),
    ("vps.scale.up", "compute"),
    ("firewall.rule.update", "network"),
    ("budget.alert.create", "billing"),
    ("storage.object.read", "storage"),
])
def test_it_derives_the_category_from_the_actions_first_segment(action, category):
    assert normalize({"action": action})["category"] == category


@pytest.mark.parametrize(("sent", "stored"), [
    ("success", "success"), ("succeeded", "success"), ("failed", "failure"), ("FAILURE", "failure"),
    ("denied", "denied"), ("blocked", "denied"), ("error", "error"), ("", "unknown"),
])
def test_it_maps_status_words_to_the_outcomes(sent, stored):
    assert normalize({"action": "auth.login", "status": sent})["outcome"] == stored


def test_it_takes_the_outcome_from_result_too():
    assert normalize({"action": "auth.login", "result": "failed"})["outcome"] == "failure"


def test_it_stores_an_unrecognised_outcome_as_unknown_and_keeps_what_was_sent():
    event = normalize({"action": "auth.login", "status": "partially"})

    assert event["outcome"] == "unknown"
    assert event["metadata"]["status"] == "partially"


def test_it_defaults_the_outcome_to_unknown_and_the_severity_to_info():
    event = normalize({"action": "auth.login"})

    assert (event["outcome"], event["severity"]) == ("unknown", "info")


def test_it_maps_severity_words_to_the_five_levels():
    assert normalize({"action": "auth.login", "severity": "WARNING"})["severity"] == "medium"
    assert normalize({"action": "auth.login", "severity": "fatal"})["severity"] == "critical"


def test_it_takes_tags_from_a_list_or_a_comma_separated_string():
    assert normalize({"action": "a.b", "tags": ["x", "y"]})["tags"] == ["x", "y"]
    assert normalize({"action": "a.b", "tags": "x, y"})["tags"] == ["x", "y"]


def test_it_reads_the_actor_given_as_a_plain_string():
    assert normalize({"action": "a.b", "actor": "bob"})["actor_id"] == "bob"
    assert normalize({"action": "a.b", "actor": "bob@example.com"})["actor_email"] == "bob@example.com"


@pytest.mark.parametrize(("sent", "stored"), [
    ("2026-03-10T14:30:45.123Z", datetime(2026, 3, 10, 14, 30, 45, 123000, tzinfo=timezone.utc)),
    ("2026-03-10T16:30:45+02:00", datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)),
    ("2026-03-10T14:30:45.123456789Z", datetime(2026, 3, 10, 14, 30, 45, 123456, tzinfo=timezone.utc)),
    ("2026-03-10T14:30:45", datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)),
    (1773153045, datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)),
    (1773153045000, datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)),
])
def test_it_reads_iso_8601_and_epoch_timestamps_as_utc(sent, stored):
    assert normalize({"action": "a.b", "timestamp": sent})["occurred_at"] == stored


def test_it_reads_an_ipv6_address_in_its_short_form():
    assert normalize({"action": "a.b", "ip_address": "2001:0db8:0000:0000:0000:0000:0000:0001"})["ip_address"] == "2001:db8::1"


def test_it_reads_the_http_request_block():
    event = normalize({"action": "api.call", "request": {"method": "post", "path": "/v1/x", "status_code": 201, "query": "a=1"}})

    assert (event["request_method"], event["request_path"], event["status_code"]) == ("POST", "/v1/x", 201)
    assert event["metadata"]["request"] == {"query": "a=1"}


# --- redaction ---------------------------------------------------------------------------------


def test_it_redacts_sensitive_keys_anywhere_in_metadata_changes_and_actor():
    event = normalize({
        "action": "config.update",
        "actor": {"id": "u1", "apiKey": "ak-live-123", "login": {"password": "hunter2"}, "credentials": {"user": "u"}},
        "metadata": {"db_password": "s3cret", "nested": {"list": [{"client_secret": "cs"}]}, "note": "fine"},
        "changes": {"before": {"token": "old"}, "after": {"token": "new", "name": "n"}},
        "api_key": "top-level-key",
        "request": {"path": "/x", "headers": {"Authorization": "Bearer abc"}},
    })

    assert event["metadata"]["db_password"] == REDACTED
    assert event["metadata"]["nested"]["list"][0]["client_secret"] == REDACTED
    assert event["metadata"]["note"] == "fine"
    assert event["changes"] == {"before": {"token": REDACTED}, "after": {"token": REDACTED, "name": "n"}}
    assert event["metadata"]["actor"]["apiKey"] == REDACTED
    assert event["metadata"]["actor"]["login"]["password"] == REDACTED
    # A key that names credentials as a whole hides everything under it.
    assert event["metadata"]["actor"]["credentials"] == REDACTED
    assert event["metadata"]["api_key"] == REDACTED
    assert event["metadata"]["request"]["headers"]["Authorization"] == REDACTED


def test_it_redacts_sensitive_keys_at_the_first_level_of_actor_and_resource():
    event = normalize({"action": "a.b", "actor": {"id": "u1", "password": "p"}, "resource": {"id": "r", "secret": "s"}})

    assert event["metadata"]["actor"]["password"] == REDACTED
    assert event["metadata"]["resource"]["secret"] == REDACTED


def test_it_redacts_a_whole_object_under_a_sensitive_key():
    event = normalize({"action": "a.b", "metadata": {"secret": {"value": "x"}}})

    assert event["metadata"]["secret"] == REDACTED


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [{}, {"status": "success"}, {"action": ""}, {"action": {"operation": "stop", "status": "ok"}}])
def test_it_refuses_an_event_without_an_action(raw):
    assert field_error(raw).field == "action"


def test_it_refuses_an_action_that_is_not_a_dotted_name():
    assert field_error({"action": "drop table; --"}).field == "action"


@pytest.mark.parametrize("raw", ["auth.login", 1, None, ["a"]])
def test_it_refuses_an_event_that_is_not_an_object(raw):
    with pytest.raises(FieldError):
        normalize_event(raw)


@pytest.mark.parametrize("value", ["not-an-ip", "999.1.1.1", 12345, "fe80::1%eth0"])
def test_it_refuses_an_invalid_ip_address(value):
    assert field_error({"action": "a.b", "ip_address": value}).field == "ip_address"


def test_it_refuses_an_invalid_ip_address_given_inside_the_actor():
    assert field_error({"action": "a.b", "actor": {"ip_address": "nope"}}).field == "ip_address"


@pytest.mark.parametrize("value", [
    "yesterday", "2026-13-45T00:00:00Z", True, {"at": 1}, 10**400, 1e400,
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
])
def test_it_refuses_a_bad_timestamp(value):
    assert field_error({"action": "a.b", "timestamp": value}).field == "timestamp"


@pytest.mark.parametrize("value", ["a string", [1, 2], 42, True])
def test_it_refuses_metadata_that_is_not_an_object(value):
    assert field_error({"action": "a.b", "metadata": value}).field == "metadata"


def test_it_refuses_changes_that_are_not_an_object():
    assert field_error({"action": "a.b", "changes": "everything"}).field == "changes"


def test_it_refuses_an_unknown_severity():
    assert field_error({"action": "a.b", "severity": "apocalyptic"}).field == "severity"


@pytest.mark.parametrize("raw", [
    {"action": "a.b", "description": "nul\x00here"},
    {"action": "a.b", "metadata": {"note": "nul\x00here"}},
    {"action": "a.b", "metadata": {"nul\x00key": "v"}},
    {"action": "a.b", "extra\x00key": "v"},
    {"action": "a.b", "actor": {"id": "u", "odd\x00key": "v"}},
    {"action": "a.b", "tags": ["ok", "n\x00"]},
])
def test_it_refuses_a_nul_character_anywhere(raw):
    assert "NUL" in field_error(raw).message


@pytest.mark.parametrize("raw", [
    {"action": "a.\ud800"},
    {"action": "a.b", "metadata": {"k": "\udfff"}},
    {"action": "a.b", "\ud800": 1},
])
def test_it_refuses_a_lone_surrogate_anywhere(raw):
    assert "surrogate" in field_error(raw).message


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**64])
def test_it_refuses_integers_beyond_2_to_the_53_in_metadata(value):
    error = field_error({"action": "a.b", "metadata": {"big": value}})

    assert error.field == "metadata.big"


def test_it_accepts_the_largest_safe_integer():
    assert normalize({"action": "a.b", "metadata": {"n": 2**53 - 1}})["metadata"]["n"] == 2**53 - 1


def test_it_refuses_an_infinite_number_in_metadata():
    assert field_error({"action": "a.b", "metadata": {"x": float("inf")}}).field == "metadata.x"


def test_it_refuses_metadata_nested_too_deeply():
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]

    assert "nested" in field_error({"action": "a.b", "metadata": deep}).message


@pytest.mark.parametrize("value", ["abc", 99, 600, float("inf"), 1e400, [200]])
def test_it_refuses_a_status_code_that_is_not_an_http_status(value):
    assert field_error({"action": "a.b", "status_code": value}).field == "status_code"


def test_it_refuses_an_event_id_that_is_not_a_string():
    assert field_error({"action": "a.b", "event_id": {"x": 1}}).field == "event_id"


def test_it_refuses_a_description_longer_than_ten_thousand_characters():
    assert field_error({"action": "a.b", "description": "x" * 10_001}).field == "description"


def test_it_refuses_an_actor_id_that_is_an_object():
    assert field_error({"action": "a.b", "actor": {"id": {"nested": 1}}}).field == "actor_id"


# --- CloudEvents -------------------------------------------------------------------------------


def test_it_unwraps_a_cloudevent_whose_data_is_an_event():
    event = normalize({
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/billing",
        "type": "budget.alert.create",
        "time": "2026-03-10T14:30:45Z",
        "subject": "budget-7",
        "data": {"actor": {"id": "u1"}, "status": "success"},
    })

    assert event["event_id"] == "ce-1"
    assert event["action"] == "budget.alert.create"
    assert event["occurred_at"] == datetime(2026, 3, 10, 14, 30, 45, tzinfo=timezone.utc)
    assert event["resource_id"] == "budget-7"
    assert event["actor_id"] == "u1"
    assert event["outcome"] == "success"
    assert event["metadata"]["cloudevents"]["source"] == "/billing"


def test_it_prefers_the_data_s_own_id_and_action_over_the_envelopes():
    event = normalize({"specversion": "1.0", "id": "ce-1", "source": "/s", "type": "com.example.thing",
                       "data": {"event_id": "own-1", "action": "auth.login"}})

    assert (event["event_id"], event["action"]) == ("own-1", "auth.login")


@pytest.mark.parametrize(("envelope", "field"), [
    ({"specversion": "0.3", "id": "1", "source": "/s", "type": "a.b"}, "specversion"),
    ({"specversion": "1.0", "source": "/s", "type": "a.b"}, "id"),
    ({"specversion": "1.0", "id": "1", "type": "a.b"}, "source"),
    ({"specversion": "1.0", "id": "1", "source": "/s"}, "type"),
    ({"specversion": "1.0", "id": "1", "source": "/s", "type": "a.b", "data_base64": "AAAA"}, "data_base64"),
])
def test_it_refuses_a_cloudevent_missing_what_the_spec_requires(envelope, field):
    assert field_error(envelope).field == field
