"""Dashboard server time at 1M events (bench/run.py module; `bench/run.py dashboard`).

Reuses bench/query.py's demo database (`auditconsole_qbench_1m`, 90 days ending
2026-03-10), migrates it, lets the rollups catch up from the events table (timed: this is also
what the worker does once after the rollups are deployed on an existing log), then times the
whole dashboard view (reads + template) for every period, for an analyst (rollups), a
Regular User (one busy actor's events) and a Manager (a team of four actors), the last two from
the per-actor rollups, with "now" at the end of the data.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
END = datetime(2026, 3, 10, tzinfo=timezone.utc)
RUNS = int(os.environ.get("DBENCH_RUNS", "15"))


def run(bench):
    sys.path.insert(0, str(Path(__file__).parent))
    import query
    from run import Section

    sizes = [int(x) for x in os.environ.get("DBENCH_SIZES", "1000000").split(",") if x.strip()]
    results = {}
    for events in sizes:
        url = query.ensure_database(bench, events)
        out = bench.out_dir / f"dashboard_{query._label(events)}.json"
        subprocess.run([bench.python, str(Path(__file__)), "measure", str(out)], cwd=ROOT,
                       env=query.demo_env(bench, url), check=True)
        results[events] = json.loads(out.read_text())
    return Section(title="Dashboard server time (bench/dashboard.py)", body=render(results))


def render(results) -> str:
    lines = [
        "Whole dashboard view (reads and template, Django test RequestFactory, no network), median and p95 "
        f"of {RUNS} runs after one warm-up. Analyst: panels from the rollups. Regular User (one busy actor) "
        "and Manager (a team of four actors): from the per-actor rollups, plus the events after them from "
        "the events table. Target: under 500 ms for every period.",
        "",
        "| events | rollup catch-up | per-actor rollups filled | user | 24h p50 / p95 | 7d p50 / p95 | 30d p50 / p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for events, result in results.items():
        filled = (f"{result['actor_catch_up_s']:.0f} s for {result['actor_catch_up_events']:,} events "
                  f"({result['actor_rollup_rows']:,} rows)")
        for user, periods in result["timings"].items():
            cells = " | ".join(f"{periods[p]['p50']:.0f} / {periods[p]['p95']:.0f} ms" for p in ("24h", "7d", "30d"))
            lines.append(f"| {events:,} | {result['catch_up_s']:.0f} s ({result['rollup_rows']:,} rows) | {filled} "
                         f"| {user} | {cells} |")
    lines += ["", NOTES]
    return "\n".join(lines)


NOTES = """\
How fresh the numbers are. The rollups of the whole log are maintained at ingest, in chain_append's \
transaction: the analyst's dashboard is as fresh as the log (an event is counted when it commits). \
The per-actor rollups (audit_rollup_actor, for Regular Users and Managers) are counted only by the \
worker's catch-up (rollups_catch_up, every minute) and by seed_demo's follower, never at ingest, so \
they are up to about a minute of ingest behind the log. The dashboard adds the events after their \
seq, counted from the events table in the same REPEATABLE READ snapshot, so a Regular User's or \
Manager's numbers are exact and current as well; only their cost grows with the lag. The rows \
"160,000 events behind" time that case: the per-actor rollups set back by a minute of the API's \
measured ingest rate (2,638 events/s), in a transaction rolled back afterwards. Users whose scope is \
limited to projects or a time window are counted from the events table (no rollup splits them).

Why the per-actor rollups are not counted at ingest: a batch of 500 demo events holds some 160 \
(actor, value) pairs and 480 (actor, resource) pairs, more rows than the whole-log rollups' upsert \
writes under the chain-head lock. At 10M events they are 6.7M rows, 1.9 GB with their key (the \
whole-log rollups: 2.9 GB; the events table: 19 GB); filling them from scratch took the time in the \
table, and the worker's first catch-up after the deploy does the same.

The analyst's top actors and resources come from each bucket's largest counts (the threshold \
algorithm, apps.events.rollup_tops) rather than from summing a rollup row per value and bucket: \
resources have nearly one value per event. The index of the day resource rows ordered by count \
(events 0010, 315 MB at 10M events) makes a day's largest counts 50 index entries instead of a read \
of the whole day (about 110,000 rows at 10M), which was most of the 7d and 30d time before \
(932 and 3,450 ms p50 on 2026-11-22). Its cost to ingest: `count` becomes an indexed column, so a \
rollup update can no longer be HOT, but without the index only about 4% of them were (pg_stat_user_tables), and the new day \
resource rows get one more index entry. Measured by `bench/dashboard.py index-cost` (20,000 demo \
events appended by chain_append in batches of 500 on a fresh database, with and without the index, \
three times each in turns, 2026-12-03 08:45-08:56 UTC, load average about 2.5; best of three): the \
rollup step took 15.4 ms a batch without the index and 15.7 ms with it, the whole chain_append \
84.9 and 85.5 ms, a difference (0.7%) within the spread of the turns (85-98 ms)."""



def measure(out: Path) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from unittest import mock

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.test import RequestFactory

    from apps.dashboard import reads as dashboard
    from apps.dashboard.views import dashboard as view
    from apps.events.rollups import actor_rollup_seq, actor_rollups_catch_up, global_rollups_catch_up
    from apps.rbac.models import Role, RoleAssignment, Team

    settings.AUDIT_TRAIL_ENABLED = False
    started = time.perf_counter()
    global_rollups_catch_up(chunk=50_000)
    catch_up = time.perf_counter() - started
    from_scratch = actor_rollup_seq() == 0
    started = time.perf_counter()
    counted = actor_rollups_catch_up(chunk=50_000)
    actor_catch_up = time.perf_counter() - started
    # Filling the per-actor rollups of a whole database happens once; a later run reports it.
    filled = out.with_name(out.stem + "_actor_fill.json")
    if from_scratch and counted:
        filled.write_text(json.dumps({"seconds": actor_catch_up, "events": counted}))
    elif filled.exists():
        previous = json.loads(filled.read_text())
        actor_catch_up, counted = previous["seconds"], previous["events"]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_rollup_bucket")
        # What autovacuum does after a large insert: the per-actor rollups are read index-only.
        cursor.execute("VACUUM (ANALYZE) audit_rollup_actor")
        cursor.execute("SELECT count(*) FROM audit_rollup_bucket")
        rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM audit_rollup_actor")
        actor_rows = cursor.fetchone()[0]
        cursor.execute("SELECT actor_id FROM audit_event WHERE actor_type = 'user' AND actor_id <> '' LIMIT 1")
        someone = cursor.fetchone()[0]
        # The manager's team: the regular user and the next three people seen at the start.
        cursor.execute("SELECT DISTINCT actor_id, actor_email FROM (SELECT actor_id, actor_email FROM audit_event"
                       " WHERE actor_type = 'user' AND actor_id <> '' AND actor_id <> %s ORDER BY seq LIMIT 5000) AS s"
                       " ORDER BY 1 LIMIT 3", [someone])
        others = cursor.fetchall()
    User = get_user_model()
    analyst, _ = User.objects.get_or_create(username="bench-analyst", defaults={"email": "bench-analyst@example.com"})
    regular, _ = User.objects.get_or_create(username=someone)
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"email": "bench-manager@example.com"})
    for user, slug in ((analyst, Role.Slug.SECURITY_ANALYST), (regular, Role.Slug.REGULAR_USER),
                       (manager, Role.Slug.MANAGER)):
        RoleAssignment.objects.get_or_create(user=user, role=Role.objects.get(slug=slug))
    team, _ = Team.objects.get_or_create(name="bench-team")
    team.members.add(manager, regular, *(User.objects.get_or_create(username=name, defaults={"email": email})[0]
                                         for name, email in others))
    factory = RequestFactory()

    def timed(label: str, user) -> dict:
        periods = {}
        for period in ("24h", "7d", "30d"):
            samples = []
            for turn in range(RUNS + 1):
                fresh = User.objects.get(pk=user.pk)   # no cached scope between requests
                request = factory.get("/", {"period": period})
                request.user, request.session = fresh, SessionStore()
                t = time.perf_counter()
                response = view(request)
                assert response.status_code == 200
                if turn:
                    samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            periods[period] = {"p50": statistics.median(samples), "p95": samples[int(len(samples) * 0.95) - 1]}
            print(f"[bench dashboard] {label} {period}: {periods[period]}", file=sys.stderr, flush=True)
        return periods

    timings = {}
    limited = (("regular user", regular), ("manager (4 actors)", manager))
    with mock.patch.object(dashboard.timezone, "now", return_value=END):
        for label, user in (("analyst", analyst), *limited):
            timings[label] = timed(label, user)
        # The per-actor rollups as the worker leaves them under load: a minute of ingest behind.
        with transaction.atomic():
            _set_back(BEHIND)
            for label, user in limited:
                label = f"{label}, per-actor rollups {BEHIND:,} events behind"
                timings[label] = timed(label, user)
            transaction.set_rollback(True)
    out.write_text(json.dumps({"catch_up_s": catch_up, "rollup_rows": rows, "actor_catch_up_s": actor_catch_up,
                               "actor_catch_up_events": counted, "actor_rollup_rows": actor_rows, "timings": timings}))


# A minute of the API's ingest rate measured in BENCHMARKS.md (2,638 events/s, rounded up).
BEHIND = 160_000


def _set_back(events: int) -> None:
    """Make the per-actor rollups count only up to `events` before the head, as if the worker's
    catch-up had not run for that long: the counts of those events are taken off the rows (in the
    caller's transaction, which rolls back), so the dashboard's numbers stay exact."""
    from django.db import connection

    from apps.events.rollups import _actor_counting_sql

    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM audit_rollup_actor_state WHERE id = 1")
        head = cursor.fetchone()[0]
        counting, params = _actor_counting_sql(head - events, head)
        cursor.execute("SET LOCAL work_mem = '128MB'")
        cursor.execute(f"WITH counts AS ({counting}) UPDATE audit_rollup_actor AS r SET count = r.count - c.n"
                       " FROM counts AS c (bucket_start, granularity, actor_id, actor_email, dimension, value, n)"
                       " WHERE (r.granularity, r.dimension, r.actor_id, r.actor_email, r.bucket_start, r.value)"
                       " = (c.granularity, c.dimension, c.actor_id, c.actor_email, c.bucket_start, c.value)", params)
        cursor.execute("UPDATE audit_rollup_actor_state SET seq = %s WHERE id = 1", [head - events])


def index_cost(events: int = 20_000, turns: int = 3) -> None:
    """What the count-ordered index of events 0010 costs chain_append: `events` demo events in
    batches of 500 on a scratch database (auditconsole_dashboard_scratch), with and without it."""
    import django

    os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/auditconsole_dashboard_scratch"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    import psycopg
    from django.db import connection, connections

    from apps.events import chain
    from apps.demo.generator import seed as demo_seed_module

    admin = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    apply, append = chain.rollups_apply, demo_seed_module.chain_append
    for turn in range(turns):
        for variant in ("without", "with"):
            connections.close_all()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS auditconsole_dashboard_scratch WITH (FORCE)")
                conn.execute("CREATE DATABASE auditconsole_dashboard_scratch")
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
            if variant == "without":
                with connection.cursor() as cursor:
                    cursor.execute("DROP INDEX rollup_bucket_day_resource_by_count")
            spent = {"apply": 0.0, "append": 0.0, "events": 0}

            def timed_apply(cursor, **kwargs):
                started = time.perf_counter()
                try:
                    return apply(cursor, **kwargs)
                finally:
                    spent["apply"] += time.perf_counter() - started

            def timed_append(batch, **kwargs):
                started = time.perf_counter()
                try:
                    return append(batch, **kwargs)
                finally:
                    spent["append"] += time.perf_counter() - started
                    spent["events"] += len(batch)

            chain.rollups_apply, demo_seed_module.chain_append = timed_apply, timed_append
            try:
                demo_seed_module.demo_seed(events=events, days=30, seed=11, batch_size=500, bulk=False)
            finally:
                chain.rollups_apply, demo_seed_module.chain_append = apply, append
            with connection.cursor() as cursor:
                cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'audit_rollup_bucket'")
                updates, hot = cursor.fetchone()
            per_batch = 500 * 1000 / spent["events"]
            print(f"{variant} the index, turn {turn + 1}: rollup step {spent['apply'] * per_batch:.1f} ms a batch, "
                  f"chain_append {spent['append'] * per_batch:.1f} ms; {hot} of {updates} rollup updates HOT", flush=True)
    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS auditconsole_dashboard_scratch WITH (FORCE)")


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(Path(sys.argv[2]))
    elif sys.argv[1] == "index-cost":
        index_cost(*(int(arg) for arg in sys.argv[2:4]))
