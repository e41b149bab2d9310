"""`retention_run`: one retention run now, in this process (the worker runs it nightly)."""
import sys

from django.core.management.base import BaseCommand

from apps.rbac.audit_trail import Actor
from apps.retention.runs import retention_run


class Command(BaseCommand):
    help = "Archive, move to cold, delete and record, as the nightly run does."

    def handle(self, *args, **options):
        run = retention_run(trigger="command", actor=Actor.system("retention_run"))
        if run is None:
            self.stderr.write("another retention run holds the lock")
            sys.exit(1)
        self.stdout.write(f"run {run.pk} {run.state}: {run.archived_events} events archived, {run.segments_cold} "
                          f"segments to cold, {run.segments_deleted} deleted, {run.segments_held} kept by holds"
                          + (f" — {run.error}" if run.error else ""))
        if run.state != "done":
            sys.exit(1)
