"""Retention: archiving events to warm Parquet segments against merely reading them out
(bench/run.py module; `bench/run.py retention`).

The issue's targets: archiving runs at no less than half the rate of `COPY (SELECT ...) TO
STDOUT` of the same rows, measured in the same run; the segments take at most a fifth of the
bytes the same rows take in the table and its indexes.

1. A fresh scratch database (bench.fresh_database) gets RETBENCH_EVENTS demo events (default
   200,000: a short run; the issue asks for 1M, `RETBENCH_EVENTS=1000000` does it) from
   `seed_demo --days 30 --end <60 days ago>`, so every event is past the default hot days.
   Or, with RETBENCH_TEMPLATE=<database>, the scratch database is a copy of that one
   (`CREATE DATABASE ... TEMPLATE`, e.g. the query bench's auditconsole_qbench_1m, whose 1M
   demo events are all months old), which saves the seeding.
2. In a child process (Django on that database, the audit trail off): the table's bytes
   (pg_total_relation_size: heap, TOAST and every index), then the baseline, `COPY (SELECT *
   FROM audit_event ORDER BY seq) TO STDOUT` read to the end (RETBENCH_COPIES times, the best
   kept), then one `retention_run()` (which writes, reads back, checks, stubs and deletes every
   event: the whole hot-to-warm path), and the segments' total size.
The archive run can be measured once per database (its events are gone after it).
3. Warm search over a large warm set (see "warm search over a large warm set" below), when the
   database RETBENCH_WARM_SOURCE (default auditconsole_qbench_10m) exists: RETBENCH_WARM_EVENTS
   (default 10,000,000) of its events written as signed segments, then searched.
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
TEMPLATE = os.environ.get("RETBENCH_TEMPLATE", "")
WARM_SOURCE = os.environ.get("RETBENCH_WARM_SOURCE", "auditconsole_qbench_10m")
WARM_EVENTS = int(os.environ.get("RETBENCH_WARM_EVENTS", "10000000"))


def run(bench):
    sys.path.insert(0, str(Path(__file__).parent))
    from run import Section, Target

    if TEMPLATE:
        import psycopg

        bench.drop_database()
        bench.log(f"retention: copying {TEMPLATE}")
        with psycopg.connect(bench.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{bench.database_url.rsplit("/", 1)[1]}" TEMPLATE "{TEMPLATE}"')
    else:
        bench.fresh_database()
        end = (datetime.now(timezone.utc) - timedelta(days=60)).strftime("%Y-%m-%dT00:00:00Z")
        bench.log(f"retention: seeding {EVENTS:,} events ending {end}")
        bench.manage("seed_demo", "--events", str(EVENTS), "--days", "30", "--seed", "7", "--end", end)
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "result.json"
        env = {**bench.env, "RETENTION_ROOT": str(Path(directory) / "archive"),
               "RETENTION_COLD_URL": (Path(directory) / "cold").as_uri(), "RETENTION_BATCH": "100000"}
        if TEMPLATE:
            # The copy's checkpoints are signed with its builder's key (bench/query.py's for the
            # query bench's databases, else RETBENCH_TEMPLATE_KEY); verify_chain needs the same.
            from query import QBENCH_SIGNING_KEY

            env["AUDIT_SIGNING_KEY"] = os.environ.get("RETBENCH_TEMPLATE_KEY", QBENCH_SIGNING_KEY)
        bench.log("retention: measuring COPY TO STDOUT and the archive run")
        subprocess.run([bench.python, str(Path(__file__)), "measure", str(out)], cwd=ROOT, env=env, check=True)
        result = json.loads(out.read_text())
    warm = _warm_measure(bench)
    if not bench.options.keep_db:
        bench.drop_database()
    copy_rate = result["events"] / result["copy_s"]
    archive_rate = result["archived"] / result["archive_s"]
    body = "\n".join([
        f"{result['events']:,} demo events"
        + (f" (a copy of `{TEMPLATE}`)" if TEMPLATE else " (`seed_demo`; the issue names 1M: `RETBENCH_EVENTS=1000000`)")
        + f", load average {result['load']} during the measurement.",
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
        f"| include-archive search (archive_page), first page of the last 7 days ({result['search_total']:,} events), 3 runs |"
        f" {', '.join(f'{x:.2f}' for x in result['search_s'])} s |",
    ])
    if warm:
        body += "\n\n" + _warm_body(warm)
    targets = [
        Target("retention: archive rate", archive_rate, "COPY TO STDOUT of the same rows", copy_rate, 0.5),
        Target("retention: table bytes per segment byte", result["table_bytes"] / max(result["segment_bytes"], 1),
               "segment bytes", 1.0, 5.0, unit="x"),
    ]
    if warm:
        worst = max(case["p95"] for case in warm["searches"].values()) * 1000
        targets.append(Target(f"retention: warm search first page over {warm['warm_events']:,} warm events: "
                              "1 s against the worst p95", 1000.0, "worst p95 of the three searches", worst, 1.0,
                              unit="ms"))
    return Section("Retention: archiving to warm segments, warm search", body, targets)


def _warm_measure(bench) -> dict | None:
    import psycopg

    with psycopg.connect(bench.admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [WARM_SOURCE]).fetchone():
            bench.log(f"retention: no {WARM_SOURCE}, no warm search measurement")
            return None
    bench.fresh_database()
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "warm.json"
        env = {**bench.env, "RETENTION_ROOT": str(Path(directory) / "archive")}
        bench.log(f"retention: writing {WARM_EVENTS:,} events of {WARM_SOURCE} as warm segments, then searching")
        subprocess.run([bench.python, str(Path(__file__)), "warm", WARM_SOURCE, str(WARM_EVENTS), str(out)], cwd=ROOT,
                       env=env, check=True)
        return json.loads(out.read_text())


def _warm_body(warm: dict) -> str:
    lines = [
        f"Warm search: {warm['warm_events']:,} events of `{WARM_SOURCE}` written as {warm['warm_segments']} signed "
        f"segments ({warm['warm_bytes'] / 1e6:,.0f} MB, in {warm['build_s']:.0f} s) by the app's segment writer "
        "(nothing deleted from the source, no stubs); `archive_page` (the viewer's and the API's include-archive "
        f"read: DuckDB over the segments the manifests leave, PostgreSQL confirming the rows shown), first page of "
        f"50 newest first, {os.environ.get('RETBENCH_SEARCHES', '20')} runs each, load average {warm['load']}.",
        "",
        "| search | matches | segments opened | p50 | p95 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, case in warm["searches"].items():
        lines.append(f"| {name} | {case['total']:,} | {case['segments']} | {case['p50'] * 1000:.0f} ms "
                     f"| {case['p95'] * 1000:.0f} ms |")
    return "\n".join(lines)


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
                    pass  # the baseline reads the rows and drops them: only getting them out is timed
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


# --- warm search over a large warm set -------------------------------------------------------
#
# `bench/retention.py warm SOURCE_DB EVENTS` (in a Django process on a scratch database, with
# RETENTION_ROOT set to a scratch directory): builds the warm set, then measures searches.
#
# The warm set: the first EVENTS events of SOURCE_DB (read-only: the query bench's
# auditconsole_qbench_10m, 10M demo events over 90 days) are read in seq order, 100,000 at a
# time, with the run's own COPY (segments.SELECT_LIST), and written by the app's own segment
# writer (segments.segment_prepare: Parquet zstd, read back and compared) with a signed
# manifest (segments.manifest_for, manifest_sign) and a Segment row in WARM state in the
# scratch database. Nothing is deleted from SOURCE_DB and no chain stubs are written (the
# chain is SOURCE_DB's); the searches read only segments and manifests, as after a real run.
#
# The searches: archive_page (what the API's and the viewer's "include archive" call), the
# first page of 50, newest first, of the last 7 days of the warm set, RETBENCH_SEARCHES times
# each (p50 and p95 reported): everything as an administrator; a query
# (`action:authentication.* AND outcome:failure`) as an administrator; and everything as a
# Security Analyst limited to one project (the visibility rule in the DuckDB condition).


def warm_build(source_db: str, events: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import psycopg
    from django.conf import settings
    from django.db import connection

    from apps.retention.models import Segment
    from apps.retention.policies import policy_default
    from apps.retention.runs import _parse, _segment_start
    from apps.retention.segments import SELECT_LIST, csv_seq_bounds, manifest_for, manifest_sign, segment_prepare, warm_path

    params = connection.get_connection_params()
    params["dbname"] = source_db
    policy = policy_default()
    started, after, written, batch = time.perf_counter(), 0, 0, 100_000

    def finish(segment, future):
        prepared = future.result()
        table = prepared.table
        manifest = manifest_for(segment, sha256=prepared.sha256, size=prepared.size, table=table)
        Segment.objects.filter(pk=segment.pk).update(
            manifest=manifest, signature=manifest_sign(manifest), key_id=manifest["key_id"], sha256=prepared.sha256,
            size=prepared.size, count=table.num_rows, first_prev_hash=table.column("prev_hash")[0].as_py(),
            last_hash=table.column("hash")[-1].as_py(), oldest_at=_parse(manifest["oldest_at"]),
            newest_at=_parse(manifest["newest_at"]), state=Segment.State.WARM, reported_state=Segment.State.WARM)
        return table.num_rows

    with psycopg.connect(**{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}) as source, \
            ThreadPoolExecutor(max_workers=1) as worker:
        pending = None
        while written < events:
            with source.cursor() as cursor:
                with cursor.copy(f"COPY (SELECT {SELECT_LIST} FROM audit_event WHERE seq > %s ORDER BY seq LIMIT %s)"
                                 " TO STDOUT (FORMAT csv)", [after, min(batch, events - written)]) as copy:
                    data = b"".join(copy)
            if not data:
                break
            first, after = csv_seq_bounds(data)
            segment = _segment_start(policy, first, after)
            current = (segment, worker.submit(segment_prepare, data, warm_path(segment.file_name), segment.pk))
            if pending:
                written += finish(*pending)
            pending = current
            log_line = f"warm set: {written:,} events in {time.perf_counter() - started:.0f} s"
            print(log_line, file=sys.stderr, flush=True)
        if pending:
            written += finish(*pending)
    segments = list(Segment.objects.filter(state=Segment.State.WARM))
    return {"warm_events": written, "warm_segments": len(segments), "warm_bytes": sum(s.size for s in segments),
            "build_s": time.perf_counter() - started, "root": str(settings.RETENTION_ROOT)}


def warm_searches(repeat: int) -> dict:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db.models import Max, Q

    from apps.events.query import parse_query
    from apps.retention.archive_search import archive_page
    from apps.retention.models import Segment

    users = get_user_model().objects
    admin = users.filter(username="bench-admin").first() or users.create_superuser("bench-admin", "b@example.com", None)
    if not users.filter(username="bench-analyst").exists():
        call_command("assign_role", "bench-analyst", "Security Analyst", "--project", "prod", "--email", "a@example.com")
    analyst = users.get(username="bench-analyst")
    newest = Segment.objects.aggregate(newest=Max("newest_at"))["newest"]
    since = newest - timedelta(days=7)
    week = Q(occurred_at__gte=since)
    query = parse_query("action:authentication.* AND outcome:failure", now=newest) & week
    cases = {"last 7 days, administrator": (admin, week), "last 7 days + query, administrator": (admin, query),
             "last 7 days, analyst limited to one project": (analyst, week)}
    results = {}
    for name, (principal, condition) in cases.items():
        times, total, searched = [], 0, 0
        for _ in range(repeat):
            started = time.perf_counter()
            page = archive_page(principal=principal, condition=condition, limit=50, start=since)
            times.append(time.perf_counter() - started)
            total, searched = page.total, page.segments_searched
            assert len(page.events) == min(50, page.total) and all(event.archived for event in page.events)
        times.sort()
        results[name] = {"p50": times[len(times) // 2], "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
                         "total": total, "segments": searched}
    return results


def warm_main(source_db: str, events: int, out: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.conf import settings

    from apps.retention.models import Segment

    settings.AUDIT_TRAIL_ENABLED = False
    result = {}
    if not Segment.objects.filter(state=Segment.State.WARM).exists():
        result.update(warm_build(source_db, events))
    result["searches"] = warm_searches(int(os.environ.get("RETBENCH_SEARCHES", "20")))
    result["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    Path(out).write_text(json.dumps(result, default=str))


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "warm":
    warm_main(sys.argv[2], int(sys.argv[3]), sys.argv[4])
