"""Fill the log with realistic demo events, attack stories included, appended through the chain."""
import argparse
from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.demo.generator import demo_seed


class Command(BaseCommand):
    help = ("Append realistic demo events (people, services and attack stories) over the last D days. "
            "The same --seed and --end give the same events.")

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=50_000, help="How many events to append (default 50,000).")
        parser.add_argument("--days", type=int, default=30,
                            help="Spread them over this many days before the end (default 30).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed; printed when not given.")
        parser.add_argument("--end", default=None,
                            help="The end of the window, ISO 8601 (default now); with --seed, reproduces a run exactly.")
        parser.add_argument("--batch-size", type=int, default=20_000, help="Events per chain append (default 20,000).")
        parser.add_argument("--bulk", action=argparse.BooleanOptionalAction, default=None,
                            help="Drop the events table's secondary indexes (but the trigram one) for the load and build them after it "
                                 "(default: from 200,000 events on, when they at least double the log).")

    def handle(self, *args, events, days, seed, end, batch_size, bulk, **options):
        if events < 1 or days < 1 or batch_size < 1:
            raise CommandError("--events, --days and --batch-size must be positive")
        end_at = None
        if end:
            end_at = parse_datetime(end)
            if end_at is None:
                raise CommandError(f"--end '{end}' is not an ISO 8601 timestamp")
            if end_at.tzinfo is None:
                end_at = end_at.replace(tzinfo=dt_timezone.utc)
        verbosity = options["verbosity"]
        next_report = [100_000]

        def progress(done: int, seconds: float) -> None:
            if verbosity >= 1 and done >= next_report[0] and done < events:
                self.stdout.write(f"  {done:>11,} events  {seconds:6.1f} s")
                next_report[0] = (done // 100_000 + 1) * 100_000

        try:
            result = demo_seed(events=events, days=days, seed=seed, end=end_at, batch_size=batch_size,
                               progress=progress, bulk=bulk, log=self.stdout.write if verbosity >= 1 else None)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {result.created:,} events in {result.seconds:.1f} s ({result.rate:,.0f} events/s), "
            f"seq #{result.first_seq}..#{result.last_seq}"
        ))
        if result.indexes is not None and result.indexes.dropped:
            self.stdout.write(
                f"Bulk load: {len(result.indexes.dropped)} indexes of audit_event dropped for the load and built "
                f"again after it in {result.indexes.wall:.1f} s (included above)"
                + (f"; {', '.join(result.indexes.kept)} kept and fed during the load" if result.indexes.kept else "")
            )
        if result.duplicates:
            self.stdout.write(self.style.WARNING(
                f"{result.duplicates:,} events were already in the log (same --seed and --end) and were not stored again"
            ))
        self.stdout.write(
            f"Window: {result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC ({days} days). "
            f"Reproduce with: --seed {result.seed} --end {result.end.isoformat()}"
        )
        self.stdout.write("Stories:")
        for story in result.stories:
            seqs = f"seq #{story.seqs[0]}..#{story.seqs[1]}" if story.seqs else "not stored (duplicates)"
            self.stdout.write(f"  {story.title}")
            self.stdout.write(f"    {story.start:%Y-%m-%d %H:%M}..{story.end:%H:%M} UTC, {len(story.events)} events, {seqs}")
            self.stdout.write(f"    {story.summary}")
            self.stdout.write(f"    find: {story.find}")
        self.stdout.write("Check the chain with: manage.py verify_chain")
