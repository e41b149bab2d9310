"""Recompute the hash chain and name the first event that does not match (exit 1)."""
import argparse
import os
import sys

from django.core.management.base import BaseCommand

from django.utils import timezone

from apps.events.chain_verification import chain_verify
from apps.events.models import VerificationRun
from apps.events.verification_runs import verification_run_record
from apps.events.witness import witness_check


def _seq(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("seq numbers start at 1")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least one worker")
    return value


class Command(BaseCommand):
    help = "Verify the audit log's hash chain. Exits 0 when intact, 1 naming the first bad seq."

    def add_arguments(self, parser):
        parser.add_argument("--from-seq", type=_seq, default=None)
        parser.add_argument("--to-seq", type=_seq, default=None)
        parser.add_argument("--workers", type=_workers, default=len(os.sched_getaffinity(0)),
                            help="Processes that verify parts of a long range at once (default: one per CPU "
                                 "this process may use).")
        parser.add_argument("--witness", nargs="?", const="", default=None, metavar="DIR",
                            help="Also compare the chain with the checkpoints witnessed outside the database (in DIR, "
                                 "default AUDIT_WITNESS_DIR): a rewound or rewritten head fails.")
        parser.add_argument("--with-archives", action="store_true",
                            help="Also recompute each archived event's hash from its retention segment.")

    def handle(self, *args, from_seq=None, to_seq=None, workers=1, witness=None, with_archives=False, **options):
        started_at = timezone.now()
        result = chain_verify(from_seq=from_seq, to_seq=to_seq, workers=workers, with_archives=with_archives)
        if witness is not None:
            witnessed = witness_check(witness or None)
            if not witnessed.valid:
                for problem in witnessed.problems:
                    self.stderr.write(f"witness: {problem}")
                self.stderr.write("chain BROKEN: it does not match the checkpoints witnessed outside the database")
                sys.exit(1)
            self.stdout.write(f"witness: {witnessed.checked} witnessed checkpoints match the chain")
        # The dashboard's compliance panel shows the last run and its result.
        kind = VerificationRun.Kind.FULL if from_seq is None and to_seq is None else VerificationRun.Kind.INCREMENTAL
        verification_run_record(result=result, kind=kind, started_at=started_at)
        if result.valid:
            span = f"#{result.from_seq}..#{result.to_seq}" if result.checked else "(no events)"
            self.stdout.write(
                f"chain intact: {result.checked} events {span}, "
                f"{result.checkpoints_checked} signed checkpoints verified"
                + (f", {result.archived_checked} archived events recomputed from their segments" if with_archives else "")
            )
            return
        self.stderr.write(f"chain BROKEN at seq {result.first_bad_seq}: {result.reason}")
        sys.exit(1)
