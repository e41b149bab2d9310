"""Check an evidence pack offline against a trusted public key.

Exits 0 when the pack is intact, 1 naming each problem, 2 when the input cannot be checked at
all (not a ZIP, no manifest, no usable key). It reads the ZIP and the key file only: no
database, no network, so an auditor runs it anywhere the code is.
"""
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.reports.pack_verify import PackUnusable, load_key, pack_verify
from apps.reports.packs import key_fingerprint


class Command(BaseCommand):
    help = ("Verify an evidence pack (ZIP) with a trusted public key (PEM file). "
            "Exits 0 intact, 1 naming each problem, 2 for unusable input.")
    # System checks are skipped: some of them open a database connection, and this command
    # must work on a machine that has none.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("pack", help="The evidence pack, a .zip file.")
        parser.add_argument("--public-key", required=True, metavar="KEY",
                            help="The console's public key as a PEM file, obtained from the console's operator "
                                 "(not the copy inside the pack).")

    def handle(self, *args, pack: str, public_key: str, **options):
        try:
            key_text = Path(public_key).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read the public key {public_key}: {error}", returncode=2) from None
        try:
            key = load_key(key_text)
            result = pack_verify(pack, key)
        except PackUnusable as error:
            raise CommandError(str(error), returncode=2) from None
        if not result.ok:
            self.stderr.write(f"{pack}: NOT VERIFIED, {len(result.problems)} problem(s):")
            for problem in result.problems:
                self.stderr.write(f"  - {problem}")
            sys.exit(1)
        report = result.manifest.get("report", {})
        self.stdout.write(
            f"{pack}: OK, signed by key {key_fingerprint(key)}\n"
            f"  report: {report.get('title')} ({report.get('period_start')} to {report.get('period_end')})\n"
            f"  {result.files_checked} files match the signed manifest; "
            f"{result.events_checked} events' hashes recompute from their content; "
            f"{result.checkpoints_checked} signed checkpoint(s) verify, "
            f"{result.checkpoints_anchoring} of them at the seq of an event in the pack"
        )
