"""Serve the console (uvicorn, ASGI) and the background worker together until Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

from auditconsole.processes import processes_stop


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
        self.stdout.write(f"Serving the console on http://{host}:{port}/ with the background worker. Ctrl-C stops both.")
        children = [subprocess.Popen(web, env=env), subprocess.Popen(worker, env=env)]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                if any(child.poll() is not None for child in children):
                    self.stderr.write("a child process stopped; shutting down")
                    break
                time.sleep(0.5)
        finally:
            processes_stop(children, timeout=10, sig=signal.SIGINT)
        code = max((child.returncode or 0) for child in children) if not stopping else 0
        if code:
            sys.exit(code)
