"""Read latency at scale: every filter of GET /api/v1/audit-logs, alone and with a time range,
free text and combinations, at 1 million (and, when asked, 10 million) events; and what the
search indexes of migrations events 0005, 0007 and 0012 cost ingest.

1. Latency. A scratch database per size (`auditconsole_qbench_1m`, `auditconsole_qbench_10m`)
   is filled once by `manage.py seed_demo --events N --days 90 --seed 7 --end 2026-03-10` (the
   search indexes of 0005, 0007 and 0012 are dropped for the load and built after it, then VACUUM
   ANALYZE) and kept between runs: a database comment records what it holds, and a later run
   reuses it when the comment matches (10M takes about 50 minutes to build on 2 cores; a
   reused database is migrated first, so indexes added since are built then). For each kind
   of query a child process (Django on that database) times the API's first page, `GET
   /api/v1/audit-logs?...&limit=50` through Django's test client with a read token, as server
   time: token check, parsing, the capped count, the page, JSON, and the audit-trail record of
   the read. Beside it, the baseline: the very SQL statements the view ran against
   audit_event (count and page, captured from the same request), run by bare psycopg on a
   connection of its own, with client-side binding as Django does, and under the settings the
   view ran them with (the free-text count's SET LOCAL, in a transaction of its own). 20 runs each, taken in
   turns after one warm-up; p50 and p95. The viewer's page (/events/ as a superuser) is timed
   the same way for the page-render target.
   The shape of a search above the viewer's results (apps.search.shape): the histogram by
   outcome and the facets, each timed as the function the viewer calls (as a superuser, with
   the viewer's default "events systems sent"), beside the same statements run by bare psycopg;
   target: p95 < 500 ms with a time range (issue 14). `measure_shape` can be run alone against
   any database: `bench/query.py shape RUNS` (prints its rows as JSON; it writes nothing, so it
   may read the shared demo databases), and `bench/query.py shape-write RUNS 1000000 10000000`
   measures each demo database so and rewrites the shape's part of BENCHMARKS.md alone.
   Time ranges are `start_date` = the newest event - 24h / 7d (the data ends on 2026-03-10, so
   `range=24h` on the wall clock would find nothing); filter values are picked from the data
   (a typical actor, one resource id, ...).
   EXPLAIN (ANALYZE, BUFFERS) of each of those statements (the capped count, which may be one
   statement per branch of an OR or keep the matches for the page, and the page) goes to
   bench/plans/query_<size>.txt.
2. Ingest cost of the search indexes: events/s of chain_append (timed where demo_seed calls
   it) appending 50,000 demo events into a fresh database without them (dropped after
   migrating) and with them, in turns, twice; the best of each.

Sizes: QBENCH_SIZES (default 1000000; e.g. QBENCH_SIZES=1000000,10000000). QBENCH_RUNS sets
the runs per query (default 20). `python bench/run.py query` runs this module alone.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "bench" / "plans"
SEED_ARGS = ("--days", "90", "--seed", "7", "--end", "2026-03-10T00:00:00Z")
MARKER = "qbench v2 events={events} " + " ".join(SEED_ARGS)
# The demo databases are kept between runs, so their checkpoints are signed with a fixed key of
# the bench's own (never the developer's): reports over them can then check the signatures. A
# bench key, public by design; nothing but these scratch databases is signed with it.
QBENCH_SIGNING_KEY = "cWJlbmNoLWRlbW8tZGF0YWJhc2Utc2lnbmluZy1rZXk="


def demo_env(bench, url: str) -> dict:
    """The environment of a process working on one of the demo databases."""
    return {**bench.env, "DATABASE_URL": url, "AUDIT_SIGNING_KEY": QBENCH_SIGNING_KEY}
INGEST_EVENTS = 50_000
INGEST_DB = "auditconsole_qbench_ingest"
INGEST_TURNS = 2
TARGET_FILTER_MS = 150
TARGET_TEXT_MS = 500
TARGET_RENDER_MS = 300
# The indexes of migrations events 0005_search_indexes, 0007_query_indexes and 0012 (the trigram
# index, moved to the stored search_text column): dropped for a bulk load or the "without" side of
# the ingest-cost measure (later migrations depend on them, so they are not unapplied), and built
# again from the definitions PostgreSQL gives for them just before they are dropped.
SEARCH_INDEXES = (
    "event_severity_time", "event_category_time", "event_auth_method_time", "event_actor_name_ci_time",
    "event_request", "event_session", "event_tags", "event_search_trgm", "event_project_action_sev_time",
)


def drop_search_indexes(url: str) -> list[str]:
    """Drop SEARCH_INDEXES; their CREATE INDEX statements, to build them again."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        definitions = [row[0] for row in conn.execute(
            "SELECT pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relkind = 'i' AND c.relname = ANY(%s) "
            "ORDER BY c.relname", [list(SEARCH_INDEXES)])]
        for name in SEARCH_INDEXES:
            conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    return definitions


def create_search_indexes(bench, url: str, definitions: list[str]) -> None:
    """Build the indexes drop_search_indexes dropped, from their definitions."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # A GIN index builds several times faster when its entries fit in memory.
        conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in definitions:
            started = time.perf_counter()
            conn.execute(statement.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            bench.log(f"query: {statement.split()[2]} built in {time.perf_counter() - started:,.0f} s")


def _label(events: int) -> str:
    return f"{events // 1_000_000}m" if events % 1_000_000 == 0 else str(events)


# --- the parent: databases, child processes, the report ---------------------------------------


def run(bench):
    from run import Section

    sizes = [int(x) for x in os.environ.get("QBENCH_SIZES", "1000000").split(",") if x.strip()]
    runs = int(os.environ.get("QBENCH_RUNS", "20"))
    results = {}
    for events in sizes:
        url = ensure_database(bench, events)
        out = bench.out_dir / f"query_{_label(events)}.json"
        bench.log(f"query: timing {events:,} events ({runs} runs per query)")
        env = demo_env(bench, url)
        subprocess.run([bench.python, str(Path(__file__)), "measure", str(out), str(runs), _label(events)],
                       cwd=ROOT, env=env, check=True)
        results[events] = json.loads(out.read_text())
    cost = ingest_cost(bench)
    return Section(title="Search and list latency (bench/query.py)", body=render(results, cost, runs))


def ensure_database(bench, events: int) -> str:
    import psycopg

    name = f"auditconsole_qbench_{_label(events)}"
    url = bench.admin_url.rsplit("/", 1)[0] + "/" + name
    marker = MARKER.format(events=events)
    env = demo_env(bench, url)

    def manage(*args):
        subprocess.run([bench.python, "manage.py", *args], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL if args[0] == "migrate" else None)

    with psycopg.connect(bench.admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           [name]).fetchone()
        if row and row[0] == marker:
            bench.log(f"query: reusing {name} ({events:,} events)")
            manage("migrate", "--noinput", "-v0")
            return url
        bench.log(f"query: building {name} with {events:,} demo events (1M: about 3 min; 10M: about 50 min)")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0")
    # Loading without the search indexes and building them after is several times faster than
    # maintaining them row by row; their cost to ingest is measured separately below.
    definitions = drop_search_indexes(url)
    manage("seed_demo", "--events", str(events), *SEED_ARGS)
    create_search_indexes(bench, url, definitions)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_event")
    with psycopg.connect(bench.admin_url, autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
    return url


def ingest_cost(bench) -> dict:
    """events/s of chain_append into a fresh database without and with the search indexes.

    In a child process on a scratch database of its own (`auditconsole_qbench_ingest`), so that
    it neither touches nor races with the other benchmarks' `auditconsole_bench`.
    """
    url = bench.admin_url.rsplit("/", 1)[0] + "/" + INGEST_DB
    out = bench.out_dir / "query_ingest_cost.json"
    subprocess.run([bench.python, str(Path(__file__)), "ingest-cost", str(out), bench.admin_url], cwd=ROOT,
                   env={**bench.env, "DATABASE_URL": url}, check=True)
    return json.loads(out.read_text())


def ingest_cost_child(out: Path, admin_url: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    import psycopg
    from django.db import connections

    from apps.demo.generator import seed as demo_seed_module

    url = os.environ["DATABASE_URL"]
    rates: dict[str, list[float]] = {"without": [], "with": []}
    original = demo_seed_module.chain_append
    try:
        for turn in range(INGEST_TURNS):
            for variant in ("without", "with"):
                connections.close_all()
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{INGEST_DB}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{INGEST_DB}"')
                subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
                if variant == "without":
                    drop_search_indexes(url)
                spent, appended = [0.0], [0]

                def timed(events, **kwargs):
                    # chain_append returns one entry per event it was given; what it is given may
                    # be a list of events or a batch chain_prepare made ready, so count the result.
                    started = time.perf_counter()
                    try:
                        result = original(events, **kwargs)
                    finally:
                        spent[0] += time.perf_counter() - started
                    appended[0] += len(result)
                    return result

                demo_seed_module.chain_append = timed
                try:
                    demo_seed_module.demo_seed(events=INGEST_EVENTS, days=30, seed=11, batch_size=5000)
                finally:
                    demo_seed_module.chain_append = original
                    connections.close_all()
                rates[variant].append(appended[0] / spent[0])
                print(f"[bench query] chain_append {variant} search indexes, turn {turn + 1}: "
                      f"{rates[variant][-1]:,.0f} events/s", file=sys.stderr, flush=True)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{INGEST_DB}" WITH (FORCE)')
    out.write_text(json.dumps({variant: max(values) for variant, values in rates.items()} | {"all": rates}))


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def render(results: dict, cost: dict, runs: int) -> str:
    lines = [
        "First page (limit 50) of `GET /api/v1/audit-logs` as server time through Django (token, parsing, capped "
        "count, page, JSON, audit-trail record), against the same count and page SQL run by bare psycopg in the "
        f"same process. {runs} runs each, in turns; milliseconds. Targets: a filter alone or with a time range "
        f"p95 < {TARGET_FILTER_MS} ms, free text < {TARGET_TEXT_MS} ms, the viewer's page < {TARGET_RENDER_MS} ms. "
        "Plans: `bench/plans/query_<size>.txt`. How it is measured: the docstring of bench/query.py.",
        "",
    ]
    shapes = {}
    for events, data in results.items():
        rows = [row for row in data["rows"] if not _is_shape(row)]
        shapes[events] = {"rows": [row for row in data["rows"] if _is_shape(row)], "facts": data["facts"],
                          "load": data.get("load", "")}
        met = sum(1 for row in rows if row["met"])
        lines += [f"### {events:,} events ({data['facts']})", "",
                  f"{met} of {len(rows)} queries within target.", "",
                  "| query | API p50 | API p95 | bare SQL p50 | bare SQL p95 | matches | target | met |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for row in rows:
            sql50 = _ms(row["sql_p50"]) if row["sql_p50"] is not None else "–"
            sql95 = _ms(row["sql_p95"]) if row["sql_p95"] is not None else "–"
            lines.append(f"| {row['name']} | {_ms(row['api_p50'])} | {_ms(row['api_p95'])} | {sql50} | {sql95} "
                         f"| {row['total']} | {row['target']} | {'yes' if row['met'] else '**no**'} |")
        lines.append("")
    if any(shape["rows"] for shape in shapes.values()):
        lines += render_shape(shapes, runs)
    if cost:
        without, with_ = cost["without"], cost["with"]
        lines += [
            "### What the search indexes cost ingest",
            "",
            f"chain_append of {INGEST_EVENTS:,} demo events into a fresh database, best of {INGEST_TURNS} turns "
            "(the turns: " + ", ".join(f"{v}: " + " / ".join(f"{r:,.0f}" for r in rs) for v, rs in cost["all"].items())
            + " events/s).",
            "",
            "| indexes | chain_append events/s | ratio |",
            "|---|---:|---:|",
            f"| without the indexes of migrations events 0005 and 0007 | {without:,.0f} | 100% |",
            f"| with them (trigram, tags GIN, 7 btrees) | {with_:,.0f} | {with_ / without * 100:.0f}% |",
        ]
    return "\n".join(lines)


def _is_shape(row: dict) -> bool:
    return row["name"].startswith(("histogram: ", "facets: "))


SHAPE_BEGIN, SHAPE_END = "<!-- bench/query.py shape -->", "<!-- end of bench/query.py shape -->"


def render_shape(shapes: dict, runs: int) -> list[str]:
    """The subsection of the histogram and the facets (issue 14), one table per size."""
    lines = [
        SHAPE_BEGIN, "### Histogram and facets above the viewer's results", "",
        "`apps.search.shape` as the viewer calls it, as a superuser, over the events systems sent (the viewer's "
        "default), each search with its time range (`start_date` = the end of the seeded data − 24 h / 7 d): the "
        "histogram (read from the rollups for a time range alone; counted exactly for at most 10,000 matches; "
        "estimated from 1 event in 2^k, at most 8,000 read, for more: ≈ in the matches column) and the facets "
        "(top 5 of six fields over the newest 10,000 matches, one statement; for a search whose histogram is "
        "estimated, from that histogram's sample, in Python, with no statement of their own). Beside each, the same statements "
        f"run by bare psycopg. {runs} runs each, in turns; milliseconds. Target: p95 < {TARGET_SHAPE_MS} ms "
        "(issue 14). `bench/query.py shape-write RUNS SIZE...` measures and rewrites this part alone, reading the "
        "demo databases only.", ""]
    for events, shape in shapes.items():
        rows = shape["rows"]
        met = sum(1 for row in rows if row["met"])
        lines += [f"#### {events:,} events ({shape['facts']}){'; ' + shape['load'] if shape.get('load') else ''}", "",
                  f"{met} of {len(rows)} within target.", "",
                  "| search | p50 | p95 | bare SQL p50 | bare SQL p95 | matches | target | met |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for row in rows:
            lines.append(f"| {row['name']} | {_ms(row['api_p50'])} | {_ms(row['api_p95'])} | {_ms(row['sql_p50'])} "
                         f"| {_ms(row['sql_p95'])} | {row['total']} | {row['target']} | {'yes' if row['met'] else '**no**'} |")
        lines.append("")
    return lines + [SHAPE_END, ""]


def write_shape(runs: int, sizes: list[int]) -> None:
    """Measure the shape at each size (a child per database, read-only) and rewrite its part of
    BENCHMARKS.md, inside the query section, leaving the rest of the section as it was."""
    import psycopg

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
    shapes = {}
    for events in sizes:
        url = f"{server}/auditconsole_qbench_{_label(events)}"
        before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        done = subprocess.run([sys.executable, str(Path(__file__)), "shape", str(runs)], cwd=ROOT, check=True,
                              env={**os.environ, "DATABASE_URL": url, "AUDIT_SIGNING_KEY": QBENCH_SIGNING_KEY},
                              stdout=subprocess.PIPE, text=True)
        after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        with psycopg.connect(url, autocommit=True) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('audit_event'))").fetchone()[0]
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True).stdout.strip()
        shapes[events] = {"rows": json.loads(done.stdout), "facts": f"table with indexes {size}",
                          "load": f"measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on commit {commit}; "
                                  f"load average {before} before, {after} after"}
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    part = "\n".join(render_shape(shapes, runs))
    if SHAPE_BEGIN in text:
        begin, end = text.index(SHAPE_BEGIN), text.index(SHAPE_END) + len(SHAPE_END) + 1
        text = text[:begin] + part + text[end:]
    else:
        anchor = text.index("### What the search indexes cost ingest")
        text = text[:anchor] + part + "\n" + text[anchor:]
    path.write_text(text)


# --- the child: Django on the scratch database ----------------------------------------------------


def _kinds(picks: dict) -> list[tuple[str, dict, str]]:
    """(name, GET parameters, target kind) for each query measured."""
    filters = [
        ("actor", {"actor": picks["actor"]}),
        ("user_id", {"user_id": picks["user_id"]}),
        ("action", {"action": "auth.login"}),
        ("action prefix", {"action": "iam.role.*"}),
        ("event_type", {"event_type": "authentication"}),
        ("resource_type", {"resource_type": picks["resource_type"]}),
        ("resource_id", {"resource_id": picks["resource_id"]}),
        ("outcome", {"outcome": "failure"}),
        ("status (2 values)", {"status": "failed,blocked"}),
        ("severity rare", {"severity": "critical"}),
        ("severity", {"severity": "high"}),
        ("category", {"category": "security"}),
        ("ip address", {"ip": picks["ip"]}),
        ("ip CIDR", {"ip": picks["cidr"]}),
        ("ip wildcard", {"ip": picks["ip_wildcard"]}),
        ("project", {"project": picks["project"]}),
        ("trace_id", {"trace_id": picks["trace_id"]}),
        ("auth_method rare", {"auth_method": "mfa"}),
        ("tags", {"tags": picks["tag"]}),
    ]
    kinds = [("no filter", {}, "filter")]
    for name, params in filters:
        kinds.append((name, params, "filter"))
        kinds.append((f"{name} + 24h", {**params, "start_date": picks["since_24h"]}, "filter"))
        kinds.append((f"{name} + 7d", {**params, "start_date": picks["since_7d"]}, "filter"))
    texts = [
        ("free text, rare word", {"q": picks["rare_word"]}),
        ("free text, common word", {"q": "bucket"}),
        ("free text, phrase", {"q": '"signed in with"'}),
        ("free text, wildcard", {"q": "sg-web*"}),
        ("free text, an id", {"q": picks["resource_id"]}),
        ("free text + 7d", {"q": picks["rare_word"], "start_date": picks["since_7d"]}),
    ]
    kinds += [(name, params, "text") for name, params in texts]
    kinds += [
        ("combined: actor + outcome + 7d", {"actor": picks["actor"], "outcome": "failure", "start_date": picks["since_7d"]}, "filter"),
        ("combined: action + project + severity", {"action": "iam.*", "project": picks["project"], "severity": "medium,high"}, "filter"),
        ("combined: q language recipe", {"q": "event_type:auth.login AND status:failed AND ip NOT IN (10.0.0.0/8)"}, "text"),
        ("combined: free text + filters + 24h", {"q": picks["rare_word"], "outcome": "success", "start_date": picks["since_24h"]}, "text"),
        ("page of 1,000", {"limit": "1000"}, "render"),
    ]
    return kinds


def _picks() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        def one(sql):
            cursor.execute(sql)
            return cursor.fetchone()[0]

        # The end of the seeded window (SEED_ARGS), not max(occurred_at): each API call of the
        # bench records itself in the log at the wall clock's time.
        newest = datetime.fromisoformat(SEED_ARGS[-1].replace("Z", "+00:00"))
        # A typical value: the median of the frequent ones, not the most common one.
        actor = one("SELECT actor_email FROM (SELECT actor_email, count(*) n FROM audit_event WHERE actor_email <> '' "
                    "GROUP BY 1 ORDER BY n DESC LIMIT 20) t ORDER BY n LIMIT 1 OFFSET 10")
        user_id = one(f"SELECT actor_id FROM audit_event WHERE actor_email = '{actor}' LIMIT 1")
        sample = "FROM audit_event TABLESAMPLE SYSTEM (1) WHERE {col} <> '' LIMIT 1"
        resource_id = one("SELECT resource_id " + sample.format(col="resource_id"))
        trace_id = one("SELECT trace_id " + sample.format(col="trace_id"))
        ip = one("SELECT host(ip_address) FROM audit_event TABLESAMPLE SYSTEM (1) WHERE family(ip_address) = 4 LIMIT 1")
        resource_type = one("SELECT resource_type FROM (SELECT resource_type, count(*) n FROM audit_event "
                            "GROUP BY 1 ORDER BY n DESC LIMIT 8) t ORDER BY n LIMIT 1")
        project = one("SELECT project FROM (SELECT project, count(*) n FROM audit_event WHERE project <> '' "
                      "GROUP BY 1 ORDER BY n LIMIT 1) t")
        tag = one("SELECT tag FROM (SELECT unnest(tags) tag FROM audit_event TABLESAMPLE SYSTEM (1)) t "
                  "GROUP BY 1 ORDER BY count(*) LIMIT 1")
        # A person's surname: in a few descriptions and emails, not in most.
        rare_word = one("SELECT split_part(actor_name, ' ', 2) FROM audit_event WHERE actor_type = 'user' "
                        "AND actor_name LIKE '% %' GROUP BY 1 ORDER BY count(*) LIMIT 1")
    octets = ip.split(".")
    return {
        "actor": actor, "user_id": user_id, "resource_id": resource_id, "trace_id": trace_id, "ip": ip,
        "cidr": ".".join(octets[:3]) + ".0/24", "ip_wildcard": ".".join(octets[:2]) + ".*",
        "resource_type": resource_type, "project": project, "tag": tag, "rare_word": rare_word,
        "since_24h": (newest - _delta(hours=24)).isoformat(), "since_7d": (newest - _delta(days=7)).isoformat(),
    }


def _delta(**kwargs):
    from datetime import timedelta

    return timedelta(**kwargs)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _bare(raw, sets: list[str], sql: str, args: tuple) -> list[tuple]:
    """One captured read run on the bare connection, with the settings the view ran it under."""
    if not sets:
        return raw.execute(sql, args).fetchall()
    with raw.transaction():
        for setting in sets:
            raw.execute(setting)
        return raw.execute(sql, args).fetchall()


def measure(out: Path, runs: int, label: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    import psycopg
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from apps.rbac.tokens import token_issue

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    secret = token_issue(scope="read", name="qbench").secret
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    admin = get_user_model().objects.filter(username="qbench-admin").first() or \
        get_user_model().objects.create_superuser("qbench-admin", "qbench@example.com", "qbench-not-a-password-1")
    viewer = Client()
    viewer.force_login(admin)
    picks = _picks()
    raw = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, cursor_factory=psycopg.ClientCursor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event")
        total_events = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('audit_event')), "
                       "pg_size_pretty(pg_relation_size('event_search_trgm'))")
        size, trigram = cursor.fetchone()

    kinds = _kinds(picks)
    rows, plans = [], []
    for name, params, target_kind in kinds:
        query = urlencode({"limit": 50, **params})
        path = f"/api/v1/audit-logs?{query}"
        # (settings, sql, params): a read and the SET LOCALs run just before it in its transaction.
        captured: list[tuple[list[str], str, tuple]] = []
        settings: list[str] = []

        def capture(execute, sql, params_, many, context):
            # The reads' count and page (Django quotes the table; the chain's own SQL does not).
            # The count of free text is a WITH (apps.search.reads._count_and_first_keys), in a
            # transaction of its own that first sets a setting for it (SET LOCAL).
            if sql.startswith("SET LOCAL "):
                settings.append(sql)
            elif 'FROM "audit_event"' in sql and sql.lstrip().upper().startswith(("SELECT", "WITH")):
                captured.append((settings[:], sql, tuple(params_)))
                settings.clear()
            return execute(sql, params_, many, context)

        with connection.execute_wrapper(capture):
            response = client.get(path)
        if response.status_code != 200:
            rows.append({"name": name, "api_p50": 0.0, "api_p95": 0.0, "sql_p50": None, "sql_p95": None,
                         "total": f"HTTP {response.status_code}", "target": "-", "met": False})
            continue
        body = response.json()
        statements = captured
        api_times, sql_times = [], []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(path)
            api_times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            for sets, sql, args in statements:
                _bare(raw, sets, sql, args)
            sql_times.append((time.perf_counter() - started) * 1000)
        target = {"filter": TARGET_FILTER_MS, "text": TARGET_TEXT_MS, "render": TARGET_RENDER_MS}[target_kind]
        p95 = _percentile(api_times, 0.95)
        rows.append({
            "name": name, "params": params,
            "api_p50": statistics.median(api_times), "api_p95": p95,
            "sql_p50": statistics.median(sql_times), "sql_p95": _percentile(sql_times, 0.95),
            "total": f"{body['total_count']:,}{'' if body['total_count_exact'] else '+'}",
            "target": f"< {target}", "met": p95 < target,
        })
        # Every statement, the counts too: at scale they cost more than the page as often as not.
        for number, (sets, sql, args) in enumerate(statements, 1):
            plan = _bare(raw, sets, "EXPLAIN (ANALYZE, BUFFERS) " + sql, args)
            plans.append(f"== {name} ({number} of {len(statements)})\n-- GET {path}\n"
                         + "".join(f"-- {setting}\n" for setting in sets)
                         + f"-- {raw.cursor().mogrify(sql, args)}\n" + "\n".join(line[0] for line in plan) + "\n")

    # The viewer's page, rendered for a superuser (the page-render target).
    for name, params in (("viewer page /events/", {}), ("viewer page, filtered + 7d",
                                                        {"actor": picks["actor"], "start_date": picks["since_7d"]})):
        path = "/events/?" + urlencode(params)
        try:
            status = viewer.get(path).status_code
        except Exception as exc:  # the viewer is another module; report, do not fail the bench
            status = f"{type(exc).__name__}"
        if status != 200:
            rows.append({"name": name, "api_p50": 0.0, "api_p95": 0.0, "sql_p50": None, "sql_p95": None,
                         "total": f"HTTP {status}", "target": f"< {TARGET_RENDER_MS}", "met": False})
            continue
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            viewer.get(path)
            times.append((time.perf_counter() - started) * 1000)
        p95 = _percentile(times, 0.95)
        rows.append({"name": name, "api_p50": statistics.median(times), "api_p95": p95, "sql_p50": None,
                     "sql_p95": None, "total": "", "target": f"< {TARGET_RENDER_MS}", "met": p95 < TARGET_RENDER_MS})

    rows += measure_shape(admin, picks, raw, runs)

    PLANS.mkdir(exist_ok=True)
    (PLANS / f"query_{label}.txt").write_text(
        f"EXPLAIN (ANALYZE, BUFFERS) of each statement of each first page of bench/query.py at {total_events:,} events.\n"
        f"Values picked from the data: {json.dumps(picks)}\n\n" + "\n".join(plans))
    out.write_text(json.dumps({
        "facts": f"table with indexes {size}, trigram index {trigram}", "picks": picks, "rows": rows,
    }, indent=1))
    raw.close()


TARGET_SHAPE_MS = 500


def measure_shape(user, picks: dict, raw, runs: int) -> list[dict]:
    """The histogram and facets of a few searches with a time range, against their bare SQL."""
    from django.db import connection
    from django.db.models import Q

    from apps.search.filters import filter_q
    from apps.search.reads import event_count
    from apps.search.shape import event_facets, event_histogram

    newest = datetime.fromisoformat(SEED_ARGS[-1].replace("Z", "+00:00"))
    searches = [
        ("no filter + 24h", {}, picks["since_24h"]), ("no filter + 7d", {}, picks["since_7d"]),
        ("outcome + 7d", {"outcome": "failure"}, picks["since_7d"]),
        ("actor + 7d", {"actor": picks["actor"]}, picks["since_7d"]),
        ("action + 24h", {"action": "auth.login"}, picks["since_24h"]),
        ("action + 7d", {"action": "auth.login"}, picks["since_7d"]),
        ("free text + 24h", {"q": picks["rare_word"]}, picks["since_24h"]),
        ("free text + 7d", {"q": picks["rare_word"]}, picks["since_7d"]),
        ("common word + 7d", {"q": "bucket"}, picks["since_7d"]),
    ]
    rows = []
    for name, params, since in searches:
        condition, errors = filter_q({**params, "start_date": since})
        assert not errors, errors
        condition &= ~Q(category="audit")  # the viewer's default: the events systems sent
        start = datetime.fromisoformat(since)
        # As the viewer calls it: a search of nothing but a time range may be read from the rollups,
        # and one with more matches than the list counts exactly (its capped count, which the page
        # has already made, so it is not timed here) is estimated from a sample.
        only_time = not params
        many = not event_count(principal=user, filters=condition)[1]

        def histogram(condition=condition, start=start, only_time=only_time, many=many):
            return event_histogram(principal=user, filters=condition, start=start, end=newest, only_time=only_time,
                                   many=many)

        # The viewer passes the histogram to the facets: an estimated one's sample gives them.
        drawn = histogram()
        calls = (
            ("histogram", histogram),
            ("facets", lambda: event_facets(principal=user, filters=condition, histogram=drawn)),
        )
        for what, call in calls:
            statements: list[tuple[str, tuple]] = []

            def capture(execute, sql, params_, many, context):
                if "audit_event" in sql and sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    statements.append((sql, tuple(params_ or ())))
                return execute(sql, params_, many, context)

            with connection.execute_wrapper(capture):
                result = call()
            matches = result.total if what == "histogram" else sum(n for _, n in result[2].values)
            about = "≈" if (result.approximate if what == "histogram" else result[0].approximate) else ""
            times, sql_times = [], []
            for _ in range(runs):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                for sql, args in statements:
                    raw.execute(sql, args).fetchall()
                sql_times.append((time.perf_counter() - started) * 1000)
            p95 = _percentile(times, 0.95)
            rows.append({"name": f"{what}: {name}", "params": params, "api_p50": statistics.median(times), "api_p95": p95,
                         "sql_p50": statistics.median(sql_times), "sql_p95": _percentile(sql_times, 0.95),
                         "total": f"{about}{matches:,}", "target": f"< {TARGET_SHAPE_MS}", "met": p95 < TARGET_SHAPE_MS})
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "measure":
        measure(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "shape":
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
        sys.path.insert(0, str(ROOT))
        django.setup()
        import psycopg
        from django.contrib.auth import get_user_model

        # A superuser sees the whole log, as the bench's qbench-admin does. When the database has
        # none, an unsaved one: the shape is read-only, and the bench databases are shared.
        user = get_user_model().objects.filter(is_superuser=True).first() or \
            get_user_model()(username="qbench-shape", is_superuser=True, is_active=True)
        connection_ = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, cursor_factory=psycopg.ClientCursor)
        print(json.dumps(measure_shape(user, _picks(), connection_, int(sys.argv[2])), indent=1))
    elif len(sys.argv) >= 4 and sys.argv[1] == "shape-write":
        write_shape(int(sys.argv[2]), [int(size) for size in sys.argv[3:]])
    elif len(sys.argv) == 4 and sys.argv[1] == "ingest-cost":
        ingest_cost_child(Path(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "build":
        # Build (or reuse) demo databases ahead of a run: `bench/query.py build 1000000 10000000`.
        sys.path.insert(0, str(ROOT / "bench"))
        import run as bench_run

        builder = bench_run.Bench(bench_run.parse_args([]), os.environ.get("DATABASE_URL") or bench_run.DEFAULT_SERVER)
        for size in sys.argv[2:]:
            print(ensure_database(builder, int(size)))
    else:
        sys.exit("usage: bench/run.py query   (this file is a module of bench/run.py)\n"
                 "       bench/query.py build EVENTS [EVENTS ...]   (build the demo databases ahead of a run)")
