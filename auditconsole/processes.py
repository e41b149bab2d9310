"""Stopping child processes: `serve`'s web server and worker, and the servers tests and benches start."""
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterable


def processes_stop(processes: Iterable[subprocess.Popen], *, timeout: float,
                   sig: int = signal.SIGTERM) -> None:
    """Ask each running process to stop with `sig`, give them `timeout` seconds in all to exit,
    then kill and reap whichever has not."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
