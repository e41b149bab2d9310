"""Run the background worker: periodic checkpoints now; alerts, reports, retention and streams
put their tasks on the same Postgres-backed queue (procrastinate).

The worker outlives its database: when PostgreSQL restarts or is unreachable, procrastinate's
worker stops with a connection error; it is started again after a pause that doubles with each
failure in a row (1 s up to 30 s, back to 1 s once it has run for a minute). Jobs are rows in
PostgreSQL, so a job that was running is retried by procrastinate's own rules, and nothing
queued is lost.
"""
import logging
import time

import psycopg
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections
from django.db.utils import InterfaceError, OperationalError
from procrastinate import exceptions as procrastinate_errors
from procrastinate.contrib.django import app

logger = logging.getLogger(__name__)

FIRST_PAUSE, LONGEST_PAUSE, STEADY_AFTER = 1.0, 30.0, 60.0
_DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError,
                  procrastinate_errors.ConnectorException)


class Command(BaseCommand):
    help = "Run the background worker (procrastinate) until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="append", dest="queues", help="Only these queues (repeatable).")
        parser.add_argument("--once", action="store_true", help="Work off what is queued, then stop.")

    def handle(self, *args, queues=None, once=False, **options):
        self.stdout.write("worker: started (Ctrl-C to stop)")
        pause = FIRST_PAUSE
        while True:
            started = time.monotonic()
            try:
                with app.replace_connector(app.connector.get_worker_connector()):
                    app.run_worker(queues=queues, wait=not once, install_signal_handlers=True)
                return  # stopped on purpose (Ctrl-C, SIGTERM) or, with --once, the queue is empty
            except _DATABASE_AWAY as error:
                if once:
                    raise
                if time.monotonic() - started >= STEADY_AFTER:
                    pause = FIRST_PAUSE
                self.stderr.write(f"worker: lost the database ({type(error).__name__}: {str(error).strip()[:200]}); "
                                  f"reconnecting in {pause:.0f} s")
            # The Django connections of the tasks' threads died with the server: drop them.
            for connection in connections.all(initialized_only=True):
                connection.close_if_unusable_or_obsolete()
                # A pool that lost the server backs off between reconnection attempts, up to
                # tens of seconds: a fresh pool connects as soon as the server is back.
                if getattr(connection, "pool", None) is not None:
                    connection.close_pool()
            close_old_connections()
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
