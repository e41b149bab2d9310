"""Dashboard server time at 1M events (bench/run.py module; `bench/run.py dashboard`).

Reuses bench/query.py's demo database (`auditconsole_qbench_1m`, 90 days ending
2026-03-10), migrates it, lets the rollups catch up from the events table (timed: this is also
what the worker does once after the rollups are deployed on an existing log), then times the
whole dashboard view (reads + template) for every period, for an analyst (rollups) and for a
Regular User (their scope, from the events table), with "now" at the end of the data.
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
        f"of {RUNS} runs after one warm-up. Analyst: panels from the rollups. Regular User: counted over "
        "their own events from the events table. Target: under 500 ms for every period.",
        "",
        "| events | rollup catch-up | user | 24h p50 / p95 | 7d p50 / p95 | 30d p50 / p95 |",
        "|---|---|---|---|---|---|",
    ]
    for events, result in results.items():
        for user, periods in result["timings"].items():
            cells = " | ".join(f"{periods[p]['p50']:.0f} / {periods[p]['p95']:.0f} ms" for p in ("24h", "7d", "30d"))
            lines.append(f"| {events:,} | {result['catch_up_s']:.0f} s ({result['rollup_rows']:,} rows) | {user} | {cells} |")
    lines += ["", "Rollups are maintained at ingest, in chain_append's transaction: a dashboard is as fresh as "
              "the log (an event is counted when it commits).",
              "",
              "The analyst's top actors and resources come from each bucket's largest counts (the threshold "
              "algorithm, apps.events.dashboard.rollup_top_bounded) rather than from summing a rollup row per "
              "value and bucket: resources have nearly one value per event, so a 30-day window holds about 1.6M "
              "day rows at 10M events. With no index of the rollups ordered by count, finding a bucket's largest "
              "counts still reads every row of the bucket, which is most of the analyst's 7d and 30d time at 10M. "
              "A Regular User's panels are each one scan of their own events in the window (through the actor "
              "index), so their time grows with how many events that actor has."]
    return "\n".join(lines)


def measure(out: Path) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from unittest import mock

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.test import RequestFactory

    from apps.events import dashboard
    from apps.events.dashboard_views import dashboard as view
    from apps.events.rollups import rollups_catch_up
    from apps.rbac.models import Role, RoleAssignment

    settings.AUDIT_TRAIL_ENABLED = False
    started = time.perf_counter()
    rollups_catch_up(chunk=50_000)
    catch_up = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_rollup_bucket")
        cursor.execute("SELECT count(*) FROM audit_rollup_bucket")
        rows = cursor.fetchone()[0]
        cursor.execute("SELECT actor_id FROM audit_event WHERE actor_type = 'user' AND actor_id <> '' LIMIT 1")
        someone = cursor.fetchone()[0]
    User = get_user_model()
    analyst, _ = User.objects.get_or_create(username="bench-analyst", defaults={"email": "bench-analyst@example.com"})
    regular, _ = User.objects.get_or_create(username=someone)
    for user, slug in ((analyst, Role.Slug.SECURITY_ANALYST), (regular, Role.Slug.REGULAR_USER)):
        RoleAssignment.objects.get_or_create(user=user, role=Role.objects.get(slug=slug))
    factory = RequestFactory()
    timings = {}
    with mock.patch.object(dashboard.timezone, "now", return_value=END):
        for label, user in (("analyst", analyst), ("regular user", regular)):
            timings[label] = {}
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
                timings[label][period] = {"p50": statistics.median(samples), "p95": samples[int(len(samples) * 0.95) - 1]}
                print(f"[bench dashboard] {label} {period}: {timings[label][period]}", file=sys.stderr, flush=True)
    out.write_text(json.dumps({"catch_up_s": catch_up, "rollup_rows": rows, "timings": timings}))


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(Path(sys.argv[2]))
