"""manage.py import_events --format F FILE... : import foreign audit logs into the chained log."""
from __future__ import annotations

import glob
import os
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
        progress = None if quiet else _Progress(self.stderr, paths)
        with ExitStack() as stack:
            def sources():
                for path in paths:
                    stream = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))
                    if progress:
                        progress.opened(path, stream)
                    yield path, stream

            try:
                summary = import_run(sources(), format=format, project=project, batch_size=batch_size,
                                     dry_run=dry_run, progress=progress, bulk=True,
                                     actor=Actor.system("import_events"))
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
    """Progress on stderr: counts so far, the rate and, when the files' sizes are known (not
    stdin), a bar with the share of bytes read and the time left. On a terminal one line is
    rewritten at most twice a second; into a file or a pipe a line is added every 10 seconds.

    The share is of the bytes read from disk (compressed ones for a gzip file) by the import's
    reader, which runs a few batches ahead of the appends, times the share of the records read
    that are done with (stored, found stored, skipped or refused).
    """

    WIDTH = 24

    def __init__(self, stream, paths: list[str]) -> None:
        self.stream, self.started, self.shown = stream, time.monotonic(), 0.0
        self.tty = callable(getattr(stream, "isatty", None)) and stream.isatty()
        self.every = 0.5 if self.tty else 10.0
        sizes = [_size(path) for path in paths]
        self.total = None if None in sizes else sum(sizes)
        self.sizes = dict(zip(paths, sizes))
        self.done_bytes = 0      # of the files finished
        self.current = None      # (path, stream) being read

    def opened(self, path: str, stream) -> None:
        if self.current is not None:
            self.done_bytes += self.sizes.get(self.current[0]) or 0
        self.current = (path, stream)

    def __call__(self, summary: ImportSummary) -> None:
        now = time.monotonic()
        if now - self.shown >= self.every:
            self.shown = now
            self._write(self._line(summary, now), final=False)

    def done(self, summary: ImportSummary) -> None:
        self._write(self._line(summary, time.monotonic(), finished=True), final=True)

    def _write(self, line: str, *, final: bool) -> None:
        plain = lambda text: text  # noqa: E731 - not the red of Django's stderr: this is no error
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K", style_func=plain, ending="\n" if final else "")
        else:
            self.stream.write(line, style_func=plain)
        self.stream.flush()

    def _bytes_read(self) -> int:
        position = 0
        if self.current is not None:
            try:
                position = self.current[1].tell()
            except (OSError, ValueError):
                position = 0
        return self.done_bytes + position

    def _line(self, summary: ImportSummary, now: float, finished: bool = False) -> str:
        elapsed = max(now - self.started, 1e-6)
        # The reader runs a few batches ahead of the appends: the records it mapped that are
        # not appended yet are not done.
        appended = summary.imported + summary.duplicates + len(summary.conflicts)
        done = summary.read - max(summary.mapped - appended, 0)
        counts = (f"read {summary.read:,}  imported {summary.imported:,}  duplicates {summary.duplicates:,}  "
                  f"skipped {summary.skipped:,}  refused {len(summary.refused):,}"
                  + (f"  conflicting {len(summary.conflicts):,}" if summary.conflicts else "")
                  + f"  ({done / elapsed:,.0f} records/s)")
        if not self.total or finished:
            return counts
        share = min(self._bytes_read() / self.total, 1.0) * (done / summary.read if summary.read else 0.0)
        filled = int(share * self.WIDTH)
        left = f"  about {_duration(elapsed * (1 - share) / share)} left" if share > 0.01 else ""
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%}  {counts}{left}"


def _size(path: str) -> int | None:
    if path == "-":
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
