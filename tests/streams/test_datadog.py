"""Datadog logs intake v2 against a local server speaking its protocol (gzip arrays, DD-API-KEY, 202)."""
from __future__ import annotations

import gzip
import json

import pytest

from tests.streams.support import _Server, deliver_until_idle, make_destination, stream_events

pytestmark = pytest.mark.django_db


class Intake(_Server):
    def __init__(self):
        super().__init__()
        self.entries: list[dict] = []
        self.script: list[int] = []

    def handle(self, path, headers, body):
        if path != "/api/v2/logs":
            return 404, {}, b"{}"
        if headers.get("DD-API-KEY") != "dd-key":
            return 403, {}, b'{"errors": ["Forbidden"]}'
        if self.script:
            return self.script.pop(0), {"Retry-After": "0"}, b'{"errors": ["scripted"]}'
        assert headers.get("Content-Encoding") == "gzip"
        entries = json.loads(gzip.decompress(body))
        assert len(entries) <= 1000
        self.entries.extend(entries)
        return 202, {}, b"{}"


@pytest.fixture
def intake():
    server = Intake().start()
    yield server
    server.stop()


def test_datadog_gets_gzip_batches_with_event_id_and_seq_after_a_429(people, add_events, intake):
    add_events(stream_events(5))
    destination = make_destination(people["admin"], kind="datadog", secret="dd-key", fmt="cef", batch=3,
                                   config={"url": intake.url, "service": "audit", "tags": "env:test"})
    intake.script = [429]

    results = deliver_until_idle(destination)

    assert results[0] == "retry"
    assert [e["event_id"] for e in intake.entries] == [f"s-{i:04d}" for i in range(5)]
    assert intake.entries[0]["message"].startswith("CEF:0|AuditConsole|")
    assert intake.entries[0]["service"] == "audit" and intake.entries[0]["ddtags"] == "env:test"
    assert all(isinstance(e["seq"], int) for e in intake.entries)


def test_datadog_refusing_the_api_key_dead_letters_the_batch(people, add_events, intake):
    add_events(stream_events(2))
    destination = make_destination(people["admin"], kind="datadog", secret="wrong", config={"url": intake.url})

    deliver_until_idle(destination)

    assert destination.dead_letters.filter(status_code=403).count() == 2
    assert destination.consecutive_failures == 1
