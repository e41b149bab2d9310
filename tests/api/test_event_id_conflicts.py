"""Event ids are unique across the whole log: a repeat of the same event is a duplicate, the same
id with other content (or another project's event) is a 409 per item that reveals nothing."""
from __future__ import annotations

import pytest

from apps.events.models import Event
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient

EVENTS = "/api/v1/events"

pytestmark = pytest.mark.django_db


def client_for(project: str) -> ApiClient:
    return ApiClient(token_issue(scope="ingest", projects=[project]).secret)


def test_an_id_already_used_in_another_project_is_a_conflict_that_reveals_nothing_of_it():
    dev = client_for("dev").post(EVENTS, {"event_id": "evt-1", "action": "deploy.start", "timestamp": "2026-03-01T10:00:00Z"})
    dev_event = dev.json()["events"][0]

    response = client_for("prod").post(EVENTS, {"events": [
        {"event_id": "prod-ok", "action": "deploy.start"},
        {"event_id": "evt-1", "action": "deploy.start", "timestamp": "2026-03-01T10:00:00Z"},
    ]})

    assert response.status_code == 409, response.content
    body = response.json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "event_id")]
    text = response.content.decode()
    assert dev_event["hash"] not in text and "sha256:" not in text and '"seq"' not in text and "dev" not in text
    assert list(Event.objects.values_list("event_id", "project")) == [("evt-1", "dev")]


def test_the_same_id_with_other_content_is_a_conflict_and_nothing_of_the_batch_is_stored(ingest, ingest_api):
    ingest({"event_id": "evt-2", "action": "auth.login", "actor_id": "alice"})

    response = ingest_api.post(EVENTS, [{"event_id": "fresh", "action": "auth.login"},
                                        {"event_id": "evt-2", "action": "auth.login", "actor_id": "mallory"}])

    assert response.status_code == 409
    assert Event.objects.filter(event_id="fresh").count() == 0
    assert Event.objects.get(event_id="evt-2").actor_id == "alice"


def test_a_repeated_id_with_other_content_within_one_batch_is_a_conflict(ingest_api):
    response = ingest_api.post(EVENTS, [{"event_id": "twice", "action": "auth.login"},
                                        {"event_id": "twice", "action": "auth.logout"}])

    assert response.status_code == 409
    assert response.json()["errors"][0]["index"] == 1
    assert Event.objects.count() == 0


def test_a_retry_of_the_same_event_stays_a_duplicate_even_without_a_timestamp(ingest_api):
    event = {"event_id": "retry-me", "action": "vps.scale.up", "actor": {"id": "u1"}, "metadata": {"n": 1.5}}
    first = ingest_api.post(EVENTS, event).json()["events"][0]

    again = ingest_api.post(EVENTS, event)

    assert again.status_code == 202
    assert again.json()["events"][0] == {**first, "status": "duplicate"}
    assert Event.objects.count() == 1


def test_a_project_limited_token_retrying_its_own_event_gets_a_duplicate():
    prod = client_for("prod")
    event = {"event_id": "p-1", "action": "deploy.finish", "timestamp": "2026-03-01T10:00:00Z"}
    first = prod.post(EVENTS, event).json()["events"][0]

    assert prod.post(EVENTS, event).json()["events"][0] == {**first, "status": "duplicate"}


def test_the_openapi_document_lists_the_conflict(read_api):
    document = read_api.get("/api/v1/openapi.json").json()

    assert "409" in document["paths"]["/api/v1/events"]["post"]["responses"]
