"""The smaller holes of issue 13, item 8: each with the behaviour a user or operator notices."""
from __future__ import annotations

import io
import logging

import pytest

from apps.events.models import Event
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient

EVENTS = "/api/v1/events"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/v1/verify", "/api/v1/checkpoints"])
def test_a_token_acting_for_a_user_who_sees_part_of_the_log_cannot_read_the_whole_chain(people, log, url):
    partial = ApiClient(token_issue(scope="read", user=people["regular"]).secret)

    response = partial.get(url)

    assert response.status_code == 403
    assert "sha256:" not in response.content.decode()


@pytest.mark.parametrize("url", ["/api/v1/verify", "/api/v1/checkpoints"])
def test_a_token_that_sees_the_whole_log_still_verifies_it(people, log, url):
    whole = ApiClient(token_issue(scope="read", user=people["admin"]).secret)

    assert whole.get(url).status_code == 200


@pytest.mark.parametrize("event, field", [
    ({"action": 5}, "action"), ({"action": 1.5}, "action"), ({"event_type": 7}, "event_type"),
])
def test_an_action_that_is_not_a_string_is_refused_not_stored_as_text(ingest_api, event, field):
    response = ingest_api.post(EVENTS, event)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert Event.objects.count() == 0


def test_a_null_event_id_is_refused_so_a_retry_cannot_store_the_event_twice(ingest_api):
    response = ingest_api.post(EVENTS, {"event_id": None, "action": "auth.login"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "event_id"
    assert Event.objects.count() == 0


def test_an_absent_event_id_is_still_made_by_the_server(ingest):
    assert ingest({"action": "auth.login"})["events"][0]["event_id"].startswith("evt_")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_declared_json_is_refused_with_415(ingest_api, content_type):
    response = ingest_api.post(EVENTS, raw='{"action": "auth.login"}', content_type=content_type)

    assert response.status_code == 415
    assert response.json()["errors"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/cloudevents+json"])
def test_json_bodies_are_still_taken(ingest_api, content_type):
    body = ('{"specversion": "1.0", "id": "c1", "source": "/s", "type": "a.b"}'
            if "cloudevents" in content_type else '{"action": "auth.login"}')

    assert ingest_api.post(EVENTS, raw=body, content_type=content_type).status_code == 202


def test_pages_tell_htmx_not_to_inject_its_indicator_style_which_the_csp_refuses(browser_for):
    response = browser_for("analyst").get("/events/")

    page = response.content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in page
    assert "style-src 'self';" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("url", ["/", "/events/", "/events/e-1/", "/events/live/"])
def test_pages_that_carry_events_are_not_stored_by_any_cache(browser_for, ingest, url):
    ingest({"event_id": "e-1", "action": "auth.login"})

    response = browser_for("admin").get(url)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_api_answers_that_carry_events_are_not_stored_by_any_cache(ingest, read_api):
    ingest({"event_id": "e-1", "action": "auth.login"})

    assert read_api.get("/api/v1/audit-logs").headers["Cache-Control"] == "no-store"
    assert read_api.get("/api/v1/audit-logs/e-1").headers["Cache-Control"] == "no-store"


def _console_handler() -> logging.Handler:
    # The handler settings.LOGGING configures on the root logger, with its filters.
    return next(handler for handler in logging.getLogger().handlers
                if any(type(f).__name__ == "RefusalsWithoutTraceback" for f in handler.filters))


def test_an_ordinary_403_is_logged_as_one_line_without_a_traceback(browser_for):
    handler = _console_handler()
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        response = browser_for("regular").get("/reports/")
    finally:
        handler.setStream(previous)

    assert response.status_code == 403
    assert "Forbidden" in stream.getvalue()
    assert "Traceback" not in stream.getvalue()
