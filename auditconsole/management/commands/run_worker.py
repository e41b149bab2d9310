"""Run the background worker: periodic checkpoints now; alerts, reports, retention and streams
put their tasks on the same Postgres-backed queue (procrastinate)."""
from django.core.management.base import BaseCommand
from procrastinate.contrib.django import app


class Command(BaseCommand):
    help = "Run the background worker (procrastinate) until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="append", dest="queues", help="Only these queues (repeatable).")
        parser.add_argument("--once", action="store_true", help="Work off what is queued, then stop.")

    def handle(self, *args, queues=None, once=False, **options):
        self.stdout.write("worker: started (Ctrl-C to stop)")
        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(queues=queues, wait=not once, install_signal_handlers=True)
