"""Real receivers for outbound tests: an HTTP server (http.server on 127.0.0.1 in a thread) and
an SMTP server (aiosmtpd; the `smtp` fixture points Django's mail at it and yields its inbox).

    with Receiver([(500, {}), (429, {"Retry-After": "1"}), (200, {})]) as receiver:
        ...  receiver.url, receiver.requests (method, path, headers, body)

Each request takes the next scripted answer ((status, headers) or (status, headers, seconds to
wait before answering)); past the script, the last answer repeats.
"""
from __future__ import annotations

import email
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

TEST_SECRET = "s3cret-for-tests"


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


class Receiver:
    def __init__(self, script=None):
        self.script = list(script or [(200, {})])
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    index = min(len(receiver.requests), len(receiver.script)) - 1
                    status, headers, *delay = receiver.script[index]
                if delay:
                    time.sleep(delay[0])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                answer = b"ok" if status < 300 else f"error {status}".encode()
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass  # the tests read what was received, not the server's request log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a receiver that is down)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def worker_jobs_forget() -> None:
    """Forget the jobs a test's worker left queued: its periodic deferrer queues every app's
    periodic tasks (with queueing locks), and the flush between transactional tests does not
    reach procrastinate's tables, so another test's `defer` would find its lock taken."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_periodic_defers")
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")


class Inbox:
    """What the local SMTP server received: (recipients, parsed message) per message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free local port, with Django's mail sent to it; yields its Inbox."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()
