"""The served console borrows its database connections from a pool (DB_POOL, on by default).

Each test starts uvicorn on the test database with a pool of one connection, so that what
the pool does (reuse one PostgreSQL session, give it back, refuse after its timeout) shows.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from django.db import connection

from apps.search.live import conninfo
from apps.rbac.models import ApiToken
from apps.rbac.tokens import token_issue
from auditconsole.errors import server_error
from tests.asgi_server import ROOT, SERVER_NAME, uvicorn_server

pytestmark = pytest.mark.django_db(transaction=True)

ONE_CONNECTION = {"DB_POOL": "1", "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "1"}


def server_sessions() -> list[tuple]:
    """The served console's PostgreSQL sessions: (pid, backend_start, waiting on a lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start, wait_event_type = 'Lock' FROM pg_stat_activity "
                       "WHERE datname = current_database() AND application_name = %s ORDER BY pid", [SERVER_NAME])
        return cursor.fetchall()


def read(base: str, secret: str) -> httpx.Response:
    return httpx.get(base + "/api/v1/audit-logs", params={"limit": 50},
                     headers={"Authorization": f"Bearer {secret}"}, timeout=60)


def test_the_tests_run_on_pooled_connections_to_the_test_database():
    assert connection.pool is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == connection.settings_dict["NAME"]


def test_consecutive_requests_are_served_on_one_postgresql_session():
    secret = token_issue(scope="read").secret
    with uvicorn_server(**ONE_CONNECTION) as base:
        assert read(base, secret).status_code == 200
        first = server_sessions()
        assert len(first) == 1
        for _ in range(3):
            assert read(base, secret).status_code == 200
        assert server_sessions() == first


def test_with_every_pooled_connection_busy_requests_are_answered_503_with_retry_after_instead_of_waiting(
        tmp_path, browser_for):
    secret = token_issue(scope="read").secret
    client = browser_for("analyst")
    log = tmp_path / "server.log"
    with log.open("w") as stderr, uvicorn_server(stderr=stderr, DB_POOL_TIMEOUT="0.5", **ONE_CONNECTION) as base, \
            psycopg.connect(**conninfo()) as locker, concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        # The first request takes the only connection and waits on a lock that this test holds.
        locker.execute(f'LOCK TABLE "{ApiToken._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
        first = executor.submit(read, base, secret)
        deadline = time.monotonic() + 30
        while not any(waiting for *_, waiting in server_sessions()):
            assert time.monotonic() < deadline, "the first request never reached the database"
            time.sleep(0.05)

        busy = read(base, secret)
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "5"
        assert busy.json()["error"].startswith("The console is busy: every database connection is in use")
        page = httpx.get(base + "/events/", cookies={"sessionid": client.cookies["sessionid"].value}, timeout=60)
        assert page.status_code == 503
        assert page.headers["Retry-After"] == "5"
        assert "every database connection is in use" in page.text

        locker.rollback()
        assert first.result().status_code == 200
        assert read(base, secret).status_code == 200
    assert "couldn't get a connection after 0.50 sec" in log.read_text()


def test_open_live_views_give_their_pooled_connection_back(browser_for):
    client = browser_for("analyst")
    secret = token_issue(scope="read").secret
    with uvicorn_server(DB_POOL_TIMEOUT="2", **ONE_CONNECTION) as base, \
            httpx.Client(base_url=base, cookies={"sessionid": client.cookies["sessionid"].value}, timeout=30) as http, \
            contextlib.ExitStack() as streams:
        for _ in range(3):
            response = streams.enter_context(http.stream("GET", "/events/live/stream/"))
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: ") and "head" in json.loads(line.removeprefix("data: ")):
                    break
        assert read(base, secret).status_code == 200


def test_persistent_connections_and_the_pool_are_not_configured_together():
    check = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "CONN_MAX_AGE": "60", "DB_POOL": "1"})
    assert check.returncode != 0
    assert "set DB_POOL=0 to use persistent connections" in check.stderr


def test_an_error_that_is_not_a_busy_pool_is_still_a_plain_500(rf):
    try:
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    except psycopg.OperationalError:
        response = server_error(rf.get("/api/v1/audit-logs"))
    assert response.status_code == 500
    assert "Retry-After" not in response
