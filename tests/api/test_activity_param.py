"""`activity` in the read API (GET /api/v1/audit-logs, the search and export bodies): systems,
console or all, as the viewer's toggle; the API's default is `all`, so a client that sends
nothing gets every event it got before the parameter existed, the console's records included;
any other value is a 400 naming `activity`."""
from __future__ import annotations

import json

import pytest

from apps.api.openapi import openapi_document
from apps.events.models import Event
from apps.rbac.audit_trail import Actor, audit_record

LOGS = "/api/v1/audit-logs"
SYSTEMS = {"sys-1", "sys-2"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(ingest, settings):
    """Two events systems sent and one record of the console's own use."""
    ingest({"event_id": "sys-1", "action": "auth.login"}, {"event_id": "sys-2", "action": "iam.role.update"})
    settings.AUDIT_TRAIL_ENABLED = True
    audit_record(action="audit.rules.update", actor=Actor.system("tests"), resource_type="rule", resource_id="r1")
    settings.AUDIT_TRAIL_ENABLED = False  # the reads below are not recorded, so the log stays these three
    console = Event.objects.get(category="audit").event_id
    return {"console": {console}, "all": SYSTEMS | {console}}


def listed(read_api, params: dict) -> set[str]:
    response = read_api.get(LOGS, params)
    assert response.status_code == 200, response.content
    return {entry["event_id"] for entry in response.json()["audit_logs"]}


def test_a_client_that_sends_no_activity_gets_every_event_as_before(read_api, log):
    assert listed(read_api, {}) == log["all"]


@pytest.mark.parametrize("activity", ["systems", "console", "all"])
def test_activity_narrows_the_list_to_whose_events_were_asked_for(read_api, log, activity):
    expected = {"systems": SYSTEMS, "console": log["console"], "all": log["all"]}[activity]
    assert listed(read_api, {"activity": activity}) == expected


def test_activity_combines_with_the_other_filters(read_api, log):
    assert listed(read_api, {"activity": "systems", "action": "auth.login"}) == {"sys-1"}
    assert listed(read_api, {"activity": "console", "action": "auth.login"}) == set()


@pytest.mark.parametrize("value", ["everything", "SYSTEMS", "system", "0"])
def test_another_activity_is_a_400_naming_the_parameter(read_api, log, value):
    response = read_api.get(LOGS, {"activity": value})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["activity"]


def test_activity_sent_twice_is_a_400_naming_it(read_api, log):
    response = read_api.client.get(LOGS + "?activity=systems&activity=console",
                                   headers={"Authorization": f"Bearer {read_api.secret}"})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["activity"]


@pytest.mark.parametrize("activity, expected", [(None, "all"), ("systems", "systems"), ("console", "console")])
def test_the_search_body_takes_activity_with_the_same_default(read_api, log, activity, expected):
    body = {} if activity is None else {"activity": activity}
    response = read_api.post(LOGS + "/search", body)
    assert response.status_code == 200, response.content
    found = {entry["event_id"] for entry in response.json()["audit_logs"]}
    assert found == {"systems": SYSTEMS, "console": log["console"], "all": log["all"]}[expected]


@pytest.mark.parametrize("activity, expected", [(None, "all"), ("systems", "systems")])
def test_the_export_body_takes_activity_with_the_same_default(read_api, log, activity, expected):
    body = {"format": "jsonl", **({} if activity is None else {"activity": activity})}
    response = read_api.post(LOGS + "/export", body)
    assert response.status_code == 200, response.content
    lines = b"".join(response.streaming_content).decode().splitlines()
    found = {json.loads(line)["event_id"] for line in lines if line.strip()}
    assert found == {"systems": SYSTEMS, "all": log["all"]}[expected]


@pytest.mark.parametrize("path", ["/search", "/export"])
@pytest.mark.parametrize("value", ["everything", 1, ["systems"]])
def test_a_body_with_another_activity_is_a_400_naming_it(read_api, log, path, value):
    response = read_api.post(LOGS + path, {"format": "jsonl", "activity": value} if path == "/export" else {"activity": value})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["activity"]


def test_the_openapi_document_lists_the_three_activities_and_says_the_default_is_all():
    document = openapi_document()
    parameter = next(p for p in document["paths"][LOGS]["get"]["parameters"] if p["name"] == "activity")
    assert parameter["schema"]["enum"] == ["systems", "console", "all"]
    assert parameter["schema"]["default"] == "all"
    assert "default is `all`" in parameter["description"]
    for body in ("SearchRequest", "ExportRequest"):
        assert document["components"]["schemas"][body]["properties"]["activity"]["enum"] == ["systems", "console", "all"]
