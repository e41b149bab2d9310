"""The console survives a PostgreSQL restart and outage, under `manage.py serve`.

The test starts its own PostgreSQL cluster (initdb and pg_ctl from the installed binaries, in a
temporary directory, on a free port; as an unprivileged user when the tests run as root, since
postgres refuses to run as root), migrates it, and runs `manage.py serve` (web server and
worker) on it. A thread posts batches of events throughout, retrying each until it is
acknowledged, while the test restarts the cluster, then stops it for a while and starts it
again. While it is away, the API answers 503 JSON with Retry-After and pages a "database
unavailable" page. Afterwards every acknowledged event is stored exactly once, the chain
verifies, the console serves, and the worker runs jobs again.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from auditconsole.processes import processes_stop
from tests.asgi_server import ROOT, free_port

PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None
RUN_AS = "auditpg"  # the unprivileged user scripts/prepare_env.py runs a local cluster as
BATCHES, PER_BATCH = 40, 5

pytestmark = pytest.mark.skipif(PG_BIN is None, reason="needs the PostgreSQL server binaries (initdb, pg_ctl)")


class Cluster:
    """A PostgreSQL cluster of the test's own, which it may stop and restart at will."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="ac-restart-", dir="/var/tmp"))
        self.port = free_port()
        if self.as_root:
            try:
                pwd.getpwnam(RUN_AS)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
                               check=True)
            shutil.chown(self.dir, RUN_AS)
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale")
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE ac_restart")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(PG_BIN / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def url(self, name: str = "ac_restart") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "start",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "restart",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}")

    def remove(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass  # the cluster is already stopped: only its folder is left to remove
        shutil.rmtree(self.dir, ignore_errors=True)


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def served(tmp_path):
    """`manage.py serve` on a cluster of the test's own: (cluster, base URL, env, tokens, serve's process)."""
    cluster = Cluster()
    env = {**os.environ, "DATABASE_URL": cluster.url(), "DB_POOL_TIMEOUT": "3", "DJANGO_SETTINGS_MODULE": "auditconsole.settings"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = open(tmp_path / "serve.log", "w")
    serve = None
    try:
        migrated = manage(env, "migrate", "-v0")
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        tokens = {scope: manage(env, "issue_token", "--scope", scope).stdout.strip().splitlines()[-1]
                  for scope in ("ingest", "read")}
        port = free_port()
        serve = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1"],
                                 cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: httpx.get(base + "/healthz", timeout=5).status_code == 200, 60)
        yield cluster, base, env, tokens, serve
    finally:
        if serve is not None:
            processes_stop([serve], timeout=20, sig=signal.SIGINT)
        log.close()
        cluster.remove()


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass  # not serving yet (or again): asked again until the deadline
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.3)


class Poster(threading.Thread):
    """Posts BATCHES batches in turn, each retried until acknowledged (202)."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}
        self.acknowledged: list[str] = []
        self.unavailable: list[httpx.Response] = []
        self.unexpected: list[tuple[int, str]] = []

    def run(self) -> None:
        for batch in range(BATCHES):
            events = [{"event_id": f"rst-{batch}-{n}", "action": "restart.test", "timestamp": "2026-03-01T10:00:00Z",
                       "actor_id": "poster", "metadata": {"batch": batch}} for n in range(PER_BATCH)]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    response = httpx.post(self.base + "/api/v1/events", json={"events": events},
                                          headers=self.headers, timeout=30)
                except httpx.TransportError:
                    time.sleep(0.3)
                    continue
                if response.status_code == 202:
                    self.acknowledged += [item["event_id"] for item in response.json()["events"]]
                    break
                if response.status_code == 503:
                    self.unavailable.append(response)
                else:
                    self.unexpected.append((response.status_code, response.text[:300]))
                time.sleep(0.3)
            time.sleep(0.1)


def test_the_console_survives_a_database_restart_and_outage_and_loses_nothing(served):
    cluster, base, env, tokens, serve = served
    poster = Poster(base, tokens["ingest"])
    poster.start()
    _wait_for(lambda: len(poster.acknowledged) >= 3 * PER_BATCH, 60)

    cluster.restart()
    _wait_for(lambda: len(poster.acknowledged) >= 10 * PER_BATCH, 120)

    cluster.stop()
    try:
        api = httpx.get(base + "/api/v1/audit-logs", headers={"Authorization": f"Bearer {tokens['read']}"}, timeout=30)
        page = httpx.get(base + "/events/", cookies={"sessionid": "a-session-the-database-would-know"}, timeout=30)
        time.sleep(2)
    finally:
        cluster.start()
    poster.join(timeout=300)

    assert not poster.is_alive()
    assert poster.unexpected == []
    assert (api.status_code, api.headers.get("Retry-After"), api.headers["Content-Type"]) == (503, "5", "application/json")
    assert "unavailable" in api.json()["error"]
    assert page.status_code == 503 and page.headers.get("Retry-After") == "5"
    assert "Database unavailable" in page.text
    assert all(r.headers.get("Retry-After") for r in poster.unavailable)
    # Every acknowledged event stored exactly once, and every batch acknowledged.
    assert len(poster.acknowledged) == BATCHES * PER_BATCH
    with psycopg.connect(cluster.url(), autocommit=True) as db:
        stored = dict(db.execute("SELECT event_id, count(*) FROM audit_event WHERE event_id LIKE 'rst-%' "
                                 "GROUP BY event_id").fetchall())
    assert stored == {event_id: 1 for event_id in poster.acknowledged}
    # The chain verifies, the console serves, and serve kept running with its worker.
    verified = manage(env, "verify_chain")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    listed = httpx.get(base + "/api/v1/audit-logs", headers={"Authorization": f"Bearer {tokens['read']}"}, timeout=30)
    assert listed.status_code == 200
    assert serve.poll() is None
    deferred = manage(env, "shell", "-c", "from apps.events.tasks import checkpoint_periodic; "
                                          "print(checkpoint_periodic.defer(timestamp=0))")
    job_id = int(deferred.stdout.strip().splitlines()[-1])

    def job_done() -> bool:
        with psycopg.connect(cluster.url(), autocommit=True) as db:
            return db.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [job_id]).fetchone()[0] == "succeeded"

    # The worker takes jobs one at a time beside every app's periodic tasks (alerts every two
    # seconds, the outbox, streams, retention, rollups): after a restart on a loaded machine it may
    # take a while to reach this one. What matters is that it is reached at all.
    try:
        _wait_for(job_done, 240)
    except AssertionError:
        with psycopg.connect(cluster.url(), autocommit=True) as db:
            row = db.execute("SELECT status, attempts, queue_name FROM procrastinate_jobs WHERE id = %s", [job_id]).fetchone()
            events = db.execute("SELECT type, at FROM procrastinate_events WHERE job_id = %s ORDER BY id", [job_id]).fetchall()
        raise AssertionError(f"the worker did not run job {job_id}: {row}, events {events}") from None


@pytest.mark.parametrize("path, kind", [("/api/v1/audit-logs", "application/json"), ("/events/", "text/html")])
def test_a_lost_database_connection_is_a_503_with_retry_after_not_a_500(rf, path, kind):
    from auditconsole.errors import server_error

    try:
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    except psycopg.OperationalError:
        response = server_error(rf.get(path))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith(kind)
    assert b"unavailable" in response.content
