"""uvicorn serving the console on the test database, for tests that need a real ASGI server.

Django's live_server is WSGI, where a streaming response holds a worker thread and async
iteration is not available, so these tests start uvicorn in a subprocess on a free port, with
DATABASE_URL naming the test database (transactional tests commit, so it sees their data).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from auditconsole.processes import processes_stop
from tests.factories import served_database_url

ROOT = Path(__file__).resolve().parents[1]
SERVER_NAME = "live test server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def uvicorn_server(*, stderr: IO | None = None, **settings: str) -> Iterator[str]:
    """uvicorn serving the console on the test database, on a free port; its base URL.

    `settings` are environment variables for it. Its Django connections are named SERVER_NAME
    in pg_stat_activity."""
    url = served_database_url(application_name=SERVER_NAME)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, **settings}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "auditconsole.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=env, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start")
        yield base
    finally:
        processes_stop([process], timeout=5)
