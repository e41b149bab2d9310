"""Serve the console (uvicorn, ASGI) and the background worker together until Ctrl-C.

A child that dies (the worker losing its database for longer than it retries, the web server
crashing) is started again after a pause that doubles with each quick failure (1 s up to
30 s, back to 1 s once a child has run for a minute), instead of taking the other one down
with it: `serve` is meant to run unattended, and a database restart must not end it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection

from apps.events.db_roles import log_powers
from auditconsole.processes import processes_stop

FIRST_PAUSE, LONGEST_PAUSE = 1.0, 30.0
# A child that ran this long before it died had been working: its next restart waits FIRST_PAUSE.
STEADY_AFTER = 60.0


@dataclass
class _Child:
    name: str
    command: list[str]
    env: dict
    process: subprocess.Popen | None = None
    started: float = 0.0
    pause: float = FIRST_PAUSE
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)
        self.started = time.monotonic()
        self.restart_at = None


class Command(BaseCommand):
    help = "Run the web console and the background worker together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")

    def handle(self, *args, host, port, workers, **options):
        python = sys.executable
        web = [
            python, "-m", "uvicorn", "auditconsole.asgi:application", "--host", host, "--port", str(port),
            "--workers", str(workers), "--log-level", "warning", "--no-server-header",
        ]
        worker = [python, "manage.py", "run_worker"]
        env = dict(os.environ)
        self._warn_of_log_powers()
        self.stdout.write(f"Serving the console on http://{host}:{port}/ with the background worker. Ctrl-C stops both.")
        children = [_Child("web server", web, env), _Child("worker", worker, env)]
        for child in children:
            child.start()
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                now = time.monotonic()
                for child in children:
                    self._look_after(child, now)
                time.sleep(0.5)
        finally:
            processes_stop([child.process for child in children if child.process], timeout=10, sig=signal.SIGINT)

    def _warn_of_log_powers(self) -> None:
        """Say so when the console's database role could alter the log (README, Database roles)."""
        try:
            with connection.cursor() as cursor:
                powers = log_powers(cursor)
        except DatabaseError:
            return  # the database is away: the children wait for it, and say so
        finally:
            connection.close()
        for power in powers:
            self.stderr.write(f"WARNING: the console's database role can alter the log: {power}. "
                              "Run it as a role that owns nothing (DATABASE_OWNER_URL; README, Database roles).")

    def _look_after(self, child: _Child, now: float) -> None:
        """Restart `child` when it has died, after its pause."""
        if child.restart_at is None:
            code = child.process.poll()
            if code is None:
                return
            if now - child.started >= STEADY_AFTER:
                child.pause = FIRST_PAUSE
            child.restart_at = now + child.pause
            self.stderr.write(f"serve: the {child.name} stopped (exit code {code}); restarting it in {child.pause:.0f} s")
            child.pause = min(child.pause * 2, LONGEST_PAUSE)
        elif now >= child.restart_at:
            child.restarts += 1
            child.start()
            self.stderr.write(f"serve: the {child.name} restarted (restart {child.restarts})")
