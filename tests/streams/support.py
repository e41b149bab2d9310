"""Real local receivers for the stream tests (127.0.0.1 only), and helpers to drive delivery.

- `Webhook`: a de-duplicating HTTP receiver that can be told to fail, time out, answer 429 and
  be restarted (stopped, then started again on the same port) while a stream delivers to it.
- `Elastic`: speaks Elasticsearch's `_bulk` (create with _id, 409 on a second create, per-item
  429 and mapping errors).
- `Hec`: speaks Splunk HEC with indexer acknowledgement (channels, ackId, /ack polling, code 9).
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from apps.events.ingest import event_ingest
from apps.outbound.signing import webhook_signature_verify
from apps.streams.delivery import destination_deliver
from apps.streams.models import Destination


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 whose handler calls `self.handle(request)`."""

    def __init__(self):
        self.port = None
        self.httpd = None
        self.lock = threading.Lock()

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = owner.handle(self.path, dict(self.headers), body)
                if status is None:  # time out: answer after the client gave up
                    time.sleep(1.5)
                    status, headers, payload = 200, {}, b"{}"
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Webhook(_Server):
    """Stores each event once by event_id; counts every receipt; answers from a script."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret
        self.script: list[str] = []     # per request: "ok", "500", "429", "timeout", "400"
        self.received = Counter()
        self.first_seen: list[int] = []  # seqs in the order first stored
        self.bad_signatures = 0
        self.requests = 0

    def handle(self, path, headers, body):
        with self.lock:
            self.requests += 1
            action = self.script.pop(0) if self.script else "ok"
            if not webhook_signature_verify(self.secret, headers.get("X-Audit-Timestamp", ""), body,
                                            headers.get("X-Audit-Signature", "")):
                self.bad_signatures += 1
                return 401, {}, b'{"error": "bad signature"}'
            if action in ("500", "429", "400"):
                extra = {"Retry-After": "0"} if action == "429" else {}
                return int(action), extra, b'{"error": "scripted"}'
            for event in json.loads(body)["events"]:
                seq = event["verification"]["seq"]
                if not self.received[event["event_id"]]:
                    self.first_seen.append(seq)
                self.received[event["event_id"]] += 1
            return (None, {}, b"") if action == "timeout" else (200, {}, b'{"ok": true}')


class Elastic(_Server):
    def __init__(self):
        super().__init__()
        self.docs: dict[str, dict] = {}
        self.throttle_once: set[str] = set()  # _ids answered 429 the first time

    def handle(self, path, headers, body):
        if path != "/_bulk":
            return 404, {}, b"{}"
        lines = body.decode().splitlines()
        items, errors = [], False
        with self.lock:
            for action_line, doc_line in zip(lines[::2], lines[1::2]):
                meta = json.loads(action_line)["create"]
                doc = json.loads(doc_line)
                _id = meta["_id"]
                if _id in self.throttle_once:
                    self.throttle_once.discard(_id)
                    items.append({"create": {"_id": _id, "status": 429, "error": {"type": "es_rejected_execution_exception"}}})
                    errors = True
                elif doc.get("action") == "bad.mapping":
                    items.append({"create": {"_id": _id, "status": 400, "error": {
                        "type": "mapper_parsing_exception", "reason": "failed to parse field [metadata]"}}})
                    errors = True
                elif _id in self.docs:
                    items.append({"create": {"_id": _id, "status": 409, "error": {"type": "version_conflict_engine_exception"}}})
                    errors = True
                else:
                    self.docs[_id] = doc
                    items.append({"create": {"_id": _id, "status": 201, "result": "created"}})
        return 200, {"Content-Type": "application/json"}, json.dumps({"took": 1, "errors": errors, "items": items}).encode()


class Hec(_Server):
    def __init__(self, token: str):
        super().__init__()
        self.token = token
        self.busy_first = False
        self.confirm_after_polls = 2
        self.never_confirm = False
        self.pending: dict[int, list] = {}
        self.indexed: list[dict] = []
        self.polls: Counter = Counter()
        self.next_ack = 0

    def handle(self, path, headers, body):
        if headers.get("Authorization") != f"Splunk {self.token}":
            return 403, {}, b'{"text":"Invalid token","code":4}'
        channel = headers.get("X-Splunk-Request-Channel")
        with self.lock:
            if path == "/services/collector/event":
                if not channel:
                    return 400, {}, b'{"text":"Data channel is missing","code":10}'
                if self.busy_first:
                    self.busy_first = False
                    return 503, {}, b'{"text":"Server is busy","code":9}'
                decoder, text, events, at = json.JSONDecoder(), body.decode(), [], 0
                while at < len(text):
                    obj, at = decoder.raw_decode(text, at)
                    events.append(obj)
                self.next_ack += 1
                self.pending[self.next_ack] = events
                return 200, {}, json.dumps({"text": "Success", "code": 0, "ackId": self.next_ack}).encode()
            if path == "/services/collector/ack":
                acks = {}
                for ack_id in json.loads(body)["acks"]:
                    self.polls[ack_id] += 1
                    done = not self.never_confirm and self.polls[ack_id] >= self.confirm_after_polls
                    if done and ack_id in self.pending:
                        self.indexed.extend(self.pending.pop(ack_id))
                    acks[str(ack_id)] = done
                return 200, {}, json.dumps({"acks": acks}).encode()
        return 404, {}, b"{}"


@pytest.fixture
def webhook():
    server = Webhook(secret="whsec-test").start()
    yield server
    server.stop()


@pytest.fixture
def elastic():
    server = Elastic().start()
    yield server
    server.stop()


@pytest.fixture
def hec():
    server = Hec(token="hec-token-1").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def quick_backoff(settings):
    settings.STREAMS_BACKOFF_BASE_SECONDS = 0.01
    settings.STREAMS_BACKOFF_CAP_SECONDS = 0.05


def stream_events(n: int, *, prefix: str = "s", start: int = 0, **extra) -> list[dict]:
    return [{"event_id": f"{prefix}-{i:04d}", "action": "storage.object.read",
             "timestamp": f"2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "actor": {"id": f"user-{i % 3}"},
             "project": "acme", "tags": ["stream"], **extra} for i in range(start, start + n)]


@pytest.fixture
def add_events(db):
    def add(events):
        return event_ingest(events)
    return add


def make_destination(owner, *, kind: str, config: dict, secret: str = "", query: str = "tags:stream",
                     fmt: str = "jsonl", batch: int = 10, **extra) -> Destination:
    return Destination.objects.create(name=f"{kind}-{Destination.objects.count() + 1}", kind=kind, format=fmt,
                                      query=query, config=config, secret=secret, batch_max_events=batch,
                                      owner=owner, **extra)


def deliver_until_idle(destination: Destination, *, rounds: int = 200, between=None) -> list[str]:
    """Run delivery rounds as the worker would, without waiting out the backoff (time is moved on)."""
    results = []
    for n in range(rounds):
        if between:
            between(n)
        result = destination_deliver(destination.pk, now=timezone.now() + timedelta(days=1))
        results.append(result)
        if result == "idle":
            break
    destination.refresh_from_db()
    return results
