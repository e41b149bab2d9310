"""manage.py import_events --format F FILE... : import foreign audit logs into the chained log."""
from __future__ import annotations

import glob
import sys
import time
from contextlib import ExitStack

from django.core.management.base import BaseCommand, CommandError

from apps.importers.formats import FORMATS
from apps.importers.run import ImportFailed, ImportSummary, import_run
from apps.rbac.audit_trail import Actor


class Command(BaseCommand):
    help = ("Import audit logs from another system (CloudTrail, GCP, Kubernetes, Okta, ...). FILE may be a glob "
            "('logs/**/*.json.gz'), a gzip file, or - for standard input. A repeated import stores nothing new.")

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                            help="the source format; auto tells it from each file's content (default)")
        parser.add_argument("--project", default="", help="store every event under this project")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--dry-run", action="store_true", help="read and map, store nothing")
        parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")

    def handle(self, *args, files, format, project, batch_size, dry_run, quiet, **options):
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000")
        paths = _expand(files)
        progress = None if quiet else _Progress(self.stderr)
        with ExitStack() as stack:
            sources = ((path, sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb")))
                       for path in paths)
            try:
                summary = import_run(sources, format=format, project=project, batch_size=batch_size,
                                     dry_run=dry_run, progress=progress, actor=Actor.system("import_events"))
            except ImportFailed as error:
                raise CommandError(str(error)) from None
        if progress:
            progress.done(summary)
        for problem in summary.problems:
            self.stderr.write(f"refused: {problem}")
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            f"{verb} {summary.mapped if dry_run else summary.imported} events "
            f"from {len(summary.files)} file(s); {summary.duplicates} already stored, {summary.skipped} skipped, "
            f"{len(summary.refused)} refused, {len(summary.conflicts)} conflicting, "
            f"{len(summary.unreadable)} file(s) unreadable"
        )
        if not summary.ok:
            raise CommandError(f"{len(summary.problems)} problem(s), listed above", returncode=2)


def _expand(patterns: list[str]) -> list[str]:
    paths = []
    for pattern in patterns:
        if pattern == "-":
            paths.append("-")
            continue
        matched = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matched:
            raise CommandError(f"{pattern}: no file matches")
        for path in matched:
            # Opened here, before anything is imported, so that a path that cannot be read stops
            # the command at once rather than after the files before it were stored.
            try:
                open(path, "rb").close()
            except IsADirectoryError:
                raise CommandError(f"{path}: is a directory; give a glob such as {path.rstrip('/')}/*.json") from None
            except OSError as error:
                raise CommandError(f"{path}: {error.strerror}") from None
            paths.append(path)
    return paths


class _Progress:
    """One line on stderr, rewritten at most a few times a second: counts so far and the rate."""

    def __init__(self, stream) -> None:
        self.stream, self.started, self.shown = stream, time.monotonic(), 0.0

    def __call__(self, summary: ImportSummary) -> None:
        now = time.monotonic()
        if now - self.shown >= 0.5:
            self.shown = now
            self.stream.write("\r" + self._line(summary, now), ending="")
            self.stream.flush()

    def done(self, summary: ImportSummary) -> None:
        self.stream.write("\r" + self._line(summary, time.monotonic()))

    def _line(self, summary: ImportSummary, now: float) -> str:
        rate = summary.read / max(now - self.started, 1e-6)
        return (f"read {summary.read:,}  imported {summary.imported:,}  duplicates {summary.duplicates:,}  "
                f"skipped {summary.skipped:,}  refused {len(summary.refused):,}  ({rate:,.0f} records/s)")
