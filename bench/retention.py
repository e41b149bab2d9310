"""Retention: archiving events to warm Parquet segments against merely reading them out
(bench/run.py module; `bench/run.py retention`).

The issue's targets: archiving runs at no less than half the rate of `COPY (SELECT ...) TO
STDOUT` of the same rows, measured in the same run; the segments take at most a fifth of the
bytes the same rows take in the table and its indexes.

1. A fresh scratch database (bench.fresh_database) gets RETBENCH_EVENTS demo events (default
   200,000: a short run; the issue asks for 1M, `RETBENCH_EVENTS=1000000` does it) from
   `seed_demo --days 30 --end <60 days ago>`, so every event is past the default hot days.
2. In a child process (Django on that database, the audit trail off): the table's bytes
   (pg_total_relation_size: heap, TOAST and every index), then the baseline, `COPY (SELECT *
   FROM audit_event ORDER BY seq) TO STDOUT` read to the end (RETBENCH_COPIES times, the best
   kept), then one `retention_run()` (which writes, reads back, checks, stubs and deletes every
   event: the whole hot-to-warm path), and the segments' total size.
The archive run can be measured once per database (its events are gone after it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = int(os.environ.get("RETBENCH_EVENTS", "200000"))
COPIES = int(os.environ.get("RETBENCH_COPIES", "3"))


def run(bench):
    sys.path.insert(0, str(Path(__file__).parent))
    from run import Section, Target

    bench.fresh_database()
    end = (datetime.now(timezone.utc) - timedelta(days=60)).strftime("%Y-%m-%dT00:00:00Z")
    bench.log(f"retention: seeding {EVENTS:,} events ending {end}")
    bench.manage("seed_demo", "--events", str(EVENTS), "--days", "30", "--seed", "7", "--end", end)
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "result.json"
        env = {**bench.env, "RETENTION_ROOT": str(Path(directory) / "archive"),
               "RETENTION_COLD_URL": (Path(directory) / "cold").as_uri(), "RETENTION_BATCH": "100000"}
        bench.log("retention: measuring COPY TO STDOUT and the archive run")
        subprocess.run([bench.python, str(Path(__file__)), "measure", str(out)], cwd=ROOT, env=env, check=True)
        result = json.loads(out.read_text())
    if not bench.options.keep_db:
        bench.drop_database()
    copy_rate = result["events"] / result["copy_s"]
    archive_rate = result["archived"] / result["archive_s"]
    body = "\n".join([
        f"Short run: {result['events']:,} demo events (the issue names 1M; `RETBENCH_EVENTS=1000000`), "
        f"load average {result['load']} during the measurement.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| `COPY (SELECT * FROM audit_event ORDER BY seq) TO STDOUT`, best of {COPIES} | {result['copy_s']:.2f} s "
        f"({copy_rate:,.0f} events/s) |",
        f"| retention run: write, read back and check, stub, delete | {result['archive_s']:.2f} s "
        f"({archive_rate:,.0f} events/s), {result['segments']} segments |",
        f"| table + TOAST + indexes before | {result['table_bytes'] / 1e6:,.1f} MB |",
        f"| segments (Parquet, zstd) | {result['segment_bytes'] / 1e6:,.1f} MB "
        f"({result['segment_bytes'] / result['table_bytes'] * 100:.1f}% of the table) |",
        f"| chain stubs left (table + index) | {result['stub_bytes'] / 1e6:,.1f} MB |",
        f"| verify_chain --with-archives after the run | {result['verify']} in {result['verify_s']:.1f} s |",
        f"| include-archive search, first page of the last 7 days ({result['search_total']:,} events), 3 runs |"
        f" {', '.join(f'{x:.2f}' for x in result['search_s'])} s (the week's rows of the segments that hold any loaded per search) |",
    ])
    targets = [
        Target("retention: archive rate", archive_rate, "COPY TO STDOUT of the same rows", copy_rate, 0.5),
        Target("retention: table bytes per segment byte", result["table_bytes"] / max(result["segment_bytes"], 1),
               "segment bytes", 1.0, 5.0, unit="x"),
    ]
    return Section("Retention: archiving to warm segments", body, targets)


def measure(out: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.conf import settings
    from django.db import connection

    from apps.events.chain_verification import chain_verify
    from apps.retention.models import RetentionPolicy, Segment
    from apps.retention.runs import retention_run

    settings.AUDIT_TRAIL_ENABLED = False
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
        cursor.execute("SELECT count(*), pg_total_relation_size('audit_event') FROM audit_event")
        events, table_bytes = cursor.fetchone()
    copies = []
    for _ in range(COPIES):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.cursor.copy("COPY (SELECT * FROM audit_event ORDER BY seq) TO STDOUT") as copy:
                for _block in copy:
                    pass
        copies.append(time.perf_counter() - started)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    if os.environ.get("RETBENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        run = profiler.runcall(retention_run, trigger="bench")
        profiler.dump_stats(os.environ["RETBENCH_PROFILE"])
    else:
        run = retention_run(trigger="bench")
    archive_s = time.perf_counter() - started
    assert run.state == "done", run.error
    segments = list(Segment.objects.all())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('audit_chain_stub')")
        stub_bytes = cursor.fetchone()[0]
    verify_started = time.perf_counter()
    verification = chain_verify(with_archives=True)
    verify_s = time.perf_counter() - verify_started
    # "Include archive": the first page of a week's events, hot and warm, as an administrator
    # sees them (every segment is loaded into the session's table: no pruning by time yet).
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from apps.retention.archive_search import archive_page

    admin = get_user_model().objects.filter(is_superuser=True).first() or get_user_model().objects.create_superuser(
        "bench-admin", "bench@example.com", None)
    newest = max(s.newest_at for s in segments)
    searches = []
    for _ in range(3):
        started = time.perf_counter()
        since = newest - timedelta(days=7)
        page = archive_page(principal=admin, condition=Q(occurred_at__gte=since), limit=50, start=since)
        searches.append(time.perf_counter() - started)
    Path(out).write_text(json.dumps({
        "search_s": sorted(searches), "search_total": page.total, "verify_s": verify_s,
        "events": events, "table_bytes": table_bytes, "copy_s": min(copies), "archive_s": archive_s,
        "archived": run.archived_events, "segments": len(segments), "segment_bytes": sum(s.size for s in segments),
        "stub_bytes": stub_bytes, "load": load,
        "verify": "valid" if verification.valid else f"BROKEN at {verification.first_bad_seq}: {verification.reason}",
    }))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "measure":
    measure(sys.argv[2])
