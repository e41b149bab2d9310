"""CSV export rate against PostgreSQL's own COPY of the same rows, and its memory (bench/run.py module).

On bench/query.py's demo database of 1M events (built by it when absent; when present, only
read: no migration is run on it), for N in EBENCH_SIZES (default 100,000 and 1,000,000):

- **ours**: `apps.search.export.export_chunks` in CSV, as the API and viewer stream it:
  `reads.event_export_copy` (keyset chunks of 50,000 from `visible_to`, an unrestricted
  principal, each written by `COPY ... WITH (FORMAT csv)`, formula cells neutralised in SQL),
  every byte consumed as a response would be, in a fresh process per N, whose peak RSS
  (ru_maxrss) is the memory figure;
- **baseline**: `COPY (SELECT <the same 32 columns, formatted alike> ... ORDER BY occurred_at,
  seq) TO STDOUT WITH CSV` of the same rows (`occurred_at <=` the N-th event's time), read
  through psycopg,
  in the same process and the same run.

Issue targets: ours at least half COPY's rate; peak RSS flat from 100k to 1M rows.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [int(x) for x in os.environ.get("EBENCH_SIZES", "100000,1000000").split(",") if x.strip()]
DB_EVENTS = int(os.environ.get("EBENCH_DB_EVENTS", "1000000"))

COPY_COLUMNS = """seq, event_id, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
 to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), action, category, outcome, severity,
 actor_type, actor_id, actor_name, actor_email, auth_method, host(ip_address), user_agent, session_id,
 resource_type, resource_id, resource_name, project, region, request_method, request_path, status_code,
 trace_id, request_id, to_json(tags), description, changes, metadata,
 'sha256:' || encode(prev_hash, 'hex'), 'sha256:' || encode(hash, 'hex')"""


def run(bench):
    sys.path.insert(0, str(Path(__file__).parent))
    import query
    from run import Section, Target

    url = _demo_database(bench, query)
    env = query.demo_env(bench, url)
    results = {}
    for n in SIZES:
        for side in ("copy", "ours"):
            out = bench.out_dir / f"exports_{side}_{n}.json"
            bench.log(f"exports: {side} of {n:,} rows")
            subprocess.run([bench.python, str(Path(__file__)), side, str(n), str(out)], cwd=ROOT, env=env, check=True)
            results[(side, n)] = json.loads(out.read_text())
    load = os.getloadavg()
    targets = [Target(f"CSV export of {n:,} rows", results[("ours", n)]["rate"], "COPY ... TO STDOUT WITH CSV",
                      results[("copy", n)]["rate"], 0.5, "rows/s") for n in SIZES]
    return Section(title="CSV export against COPY (bench/exports.py)", body=render(results, load), targets=targets)


def _demo_database(bench, query) -> str:
    """The demo database's URL, reused as it is (this bench only reads it, and runs no migration on it)."""
    import psycopg

    name = f"auditconsole_qbench_{query._label(DB_EVENTS)}"
    with psycopg.connect(bench.admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           [name]).fetchone()
    if not row or row[0] != query.MARKER.format(events=DB_EVENTS):
        return query.ensure_database(bench, DB_EVENTS)  # absent or incomplete: bench/query.py builds it
    return bench.admin_url.rsplit("/", 1)[0] + "/" + name


def render(results: dict, load) -> str:
    lines = [
        "The events up to the time of the N-th (in time order; `occurred_at <= t`, the same window for both sides) of the 1M demo database, written as CSV and consumed; each side in a "
        "fresh process. Ours: `export.export_chunks` with `export_formats.csv` (keyset chunks of 50,000 from "
        "`visible_to`, each written by `COPY ... WITH (FORMAT csv)`, formula cells neutralised in SQL); baseline: PostgreSQL's `COPY (SELECT ...) TO STDOUT WITH CSV` of the same rows and columns. "
        f"Load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.",
        "",
        "| rows | ours rows/s | COPY rows/s | ratio | ours MB | COPY MB | ours peak RSS | COPY-side peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (side, n), _ in sorted(results.items(), key=lambda item: item[0][1]):
        if side != "ours":
            continue
        ours, copy = results[("ours", n)], results[("copy", n)]
        lines.append(f"| {n:,} | {ours['rate']:,.0f} | {copy['rate']:,.0f} | {ours['rate'] / copy['rate']:.2f} | "
                     f"{ours['bytes'] / 1e6:,.1f} | {copy['bytes'] / 1e6:,.1f} | {ours['rss_mb']:,.0f} MB | "
                     f"{copy['rss_mb']:,.0f} MB |")
    return "\n".join(lines) + "\n"


# --- the child processes --------------------------------------------------------------------


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _cut(n: int):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT occurred_at, seq FROM audit_event ORDER BY occurred_at, seq OFFSET %s LIMIT 1", [n - 1])
        return cursor.fetchone()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_ours(n: int, out: Path) -> None:
    _setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from apps.search import export
    from apps.search.formats import FORMATS

    cut_time, _ = _cut(n)
    # A time window, as a user's export has: one range on the event_time_seq index.
    condition = Q(occurred_at__lte=cut_time)
    # An unsaved superuser: visible_to gives it everything, and the bench writes nothing.
    principal = get_user_model()(username="bench", is_superuser=True, is_active=True)
    started = time.perf_counter()
    size = rows = 0
    def counted(chunks):
        nonlocal rows
        for chunk in chunks:
            rows += len(chunk)
            yield chunk

    # What the API and the viewer stream: apps.search.export.export_chunks.
    for part in export.export_chunks(FORMATS["csv"], principal=principal, filters=condition, counted=counted):
        size += len(part if isinstance(part, bytes) else part.encode("utf-8"))
    elapsed = time.perf_counter() - started
    out.write_text(json.dumps({"rows": rows, "seconds": elapsed, "rate": rows / elapsed, "bytes": size,
                               "rss_mb": _rss_mb()}))


def measure_copy(n: int, out: Path) -> None:
    _setup()
    from django.db import connection

    cut_time, _ = _cut(n)
    sql = (f"COPY (SELECT {COPY_COLUMNS} FROM audit_event WHERE occurred_at <= %s "
           "ORDER BY occurred_at, seq) TO STDOUT WITH CSV HEADER")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event WHERE occurred_at <= %s", [cut_time])
        rows = cursor.fetchone()[0]
    started = time.perf_counter()
    size = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(sql, [cut_time]) as copy:
            for data in copy:
                size += len(data)
    elapsed = time.perf_counter() - started
    out.write_text(json.dumps({"rows": rows, "seconds": elapsed, "rate": rows / elapsed, "bytes": size,
                               "rss_mb": _rss_mb()}))


if __name__ == "__main__":
    side, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    (measure_ours if side == "ours" else measure_copy)(n, out)
