"""Ingest and verification throughput, each against a raw baseline measured in the same run.

1. API ingest: events/s through POST /api/v1/events (batches of 500, 4 concurrent clients,
   every event appended to the chain) served by uvicorn as `manage.py serve` deploys it (ASGI).
   The worker count is the fastest of short trials of each candidate, taken in turns; WSGI is
   timed beside them for comparison.
   Baseline: the raw COPY rate of the same rows, fully formed (seq, received_at, prev_hash,
   hash), COPYed by psycopg into the same table (same indexes and triggers), 500 rows per
   transaction, from one connection. The measured run is cut into rounds, each followed by the
   COPY of its own rows, so every API number has a baseline taken seconds away from it.
2. Verification: events/s of chain_verify() over everything stored, in as many processes as
   `manage.py verify_chain` uses (one per CPU), and in one.
   Baseline: a loop of sha256(prev + canonical bytes) over the very same canonical bytes,
   precomputed in memory; the loop's last digest must equal the chain head's hash.
   Second baseline: reading the same rows out of PostgreSQL without hashing them (COPY of every
   stored column to this process, bytes dropped), over as many connections at once.
3. Where the time goes (not a target): event_ingest's and chain_verify's stages timed in this
   process on the same data, HTTP's share from one client alternating with in-process ingest,
   and cProfile listings written to bench/out/.

Run it through `make bench`, or `.venv/bin/python bench/run.py ingest [options]`.
"""
from __future__ import annotations

import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import socket
import statistics
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx

from run import Bench, Section, Target, fmt_rate, fmt_ratio

GOAL_INGEST = 0.5
GOAL_VERIFY = 0.5
WARMUP_BATCHES_PER_CLIENT = 2
# The measured run is cut into rounds, each followed by its own COPY baseline.
ROUNDS = 3
SELECT_TURNS = 2
VERIFY_TURNS = 3
PROFILE_BATCHES = 20
STAGE_TURNS = 2
# Far above any seq the API assigns in a run, so baseline rows never collide with the chain.
COPY_SEQ_OFFSET = 10**12


# --- realistic events ----------------------------------------------------------------------

USERS = [
    ("u_1001", "alice.martin@acme.example", "Alice Martin"), ("u_1002", "bob.nguyen@acme.example", "Bob Nguyen"),
    ("u_1003", "carla.rossi@acme.example", "Carla Rossi"), ("u_1004", "dmitri.ivanov@acme.example", "Dmitri Ivanov"),
    ("u_1005", "eve.okafor@acme.example", "Eve Okafor"), ("u_1006", "farid.haddad@acme.example", "Farid Haddad"),
    ("u_1007", "greta.lind@acme.example", "Greta Lind"), ("u_1008", "hiro.tanaka@acme.example", "Hiro Tanaka"),
    ("u_1009", "ines.garcia@acme.example", "Inés García"), ("u_1010", "jonas.weber@acme.example", "Jonas Weber"),
]
SERVICES = [("svc_billing", "billing-worker"), ("svc_deploy", "deploy-bot"), ("svc_backup", "backup-agent")]
PROJECTS = ["web-shop", "payments", "data-platform", "internal-tools", "mobile-api", "ml-training",
            "marketing-site", "observability", "identity", "edge-cdn", "warehouse", "sandbox"]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"]
TAGS = ["production", "staging", "pci", "gdpr", "soc2", "budget", "on-call", "change-ticket", "automated", "sensitive"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "acme-cli/3.8.1 (linux; amd64)", "terraform-provider-acme/1.22.0", "python-httpx/0.27.0",
]
COUNTRIES = [("DE", "Berlin"), ("FR", "Paris"), ("US", "Ashburn"), ("JP", "Tokyo"), ("BR", "São Paulo"), ("NG", "Lagos")]

# action, resource type, request method, path template, whether it carries changes, weight
FAMILIES = [
    ("auth.login", "session", "POST", "/v1/auth/login", False, 18),
    ("auth.logout", "session", "POST", "/v1/auth/logout", False, 6),
    ("auth.mfa.challenge", "session", "POST", "/v1/auth/mfa", False, 5),
    ("iam.role.update", "role", "PATCH", "/v1/iam/roles/{id}", True, 4),
    ("iam.user.create", "user", "POST", "/v1/iam/users", True, 2),
    ("vps.create", "vps", "POST", "/v1/compute/vps", True, 5),
    ("vps.scale.up", "vps", "POST", "/v1/compute/vps/{id}/scale", True, 5),
    ("vps.delete", "vps", "DELETE", "/v1/compute/vps/{id}", False, 2),
    ("firewall.rule.update", "firewall_rule", "PUT", "/v1/network/firewall/{id}", True, 4),
    ("bucket.object.read", "bucket", "GET", "/v1/storage/buckets/{id}/objects", False, 16),
    ("bucket.policy.update", "bucket", "PUT", "/v1/storage/buckets/{id}/policy", True, 2),
    ("k8s.cluster.upgrade", "cluster", "POST", "/v1/k8s/clusters/{id}/upgrade", True, 2),
    ("config.setting.update", "setting", "PATCH", "/v1/settings/{id}", True, 4),
    ("data.export.create", "dataset", "POST", "/v1/data/exports", False, 3),
    ("billing.invoice.pay", "invoice", "POST", "/v1/billing/invoices/{id}/pay", False, 3),
    ("cost.budget.alert", "budget", "POST", "/v1/billing/budgets/{id}/alerts", False, 3),
    ("api_key.create", "api_key", "POST", "/v1/api-keys", False, 2),
]
_FAMILY_WEIGHTS = [family[-1] for family in FAMILIES]


# 64,000 events cover about a day, so a request of 500 spans about ten minutes.
SECONDS_BETWEEN_EVENTS = 1.35


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_event(rng: random.Random, n: int, *, prefix: str, now: datetime) -> dict:
    """One event as a client would send it: nested actor/resource, request, metadata, tags."""
    action, rtype, method, path, mutates, _ = rng.choices(FAMILIES, _FAMILY_WEIGHTS)[0]
    rid = f"{rtype}-{rng.randrange(16**8):08x}"
    project = rng.choice(PROJECTS)
    region = rng.choice(REGIONS)
    if rng.random() < 0.85:
        uid, email, name = rng.choice(USERS)
        actor = {"type": "user", "id": uid, "email": email, "name": name}
    else:
        sid, name = rng.choice(SERVICES)
        actor = {"type": "service", "id": sid, "name": name}
    outcome = rng.choices(["success", "failure", "denied", "error"], [86, 8, 5, 1])[0]
    country, city = rng.choice(COUNTRIES)
    ip = (f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}" if rng.random() < 0.9
          else f"2001:db8:{rng.randrange(16**4):x}::{rng.randrange(1, 16**4):x}")
    metadata: dict = {
        "geo": {"country": country, "city": city},
        "client": {"name": rng.choice(["console", "cli", "terraform", "sdk-python"]), "version": f"{rng.randrange(1, 5)}.{rng.randrange(20)}.{rng.randrange(10)}"},
        "request_bytes": rng.randrange(200, 40_000),
    }
    if action.startswith("auth."):
        metadata["mfa"] = rng.random() < 0.7
        metadata["attempt"] = rng.randrange(1, 4)
    if action.startswith(("billing.", "cost.")):
        # Money and usage come as decimals; floats make canonical JSON take the RFC 8785 path.
        metadata["amount"] = round(rng.uniform(5, 5000), 2)
        metadata["currency"] = "EUR"
        metadata["usage"] = {"cpu_hours": round(rng.uniform(0, 900), 1), "egress_gb": round(rng.uniform(0, 300), 2)}
    if action == "api_key.create":
        # A sensitive key, redacted at ingest.
        metadata["api_key"] = "ak_" + "".join(rng.choices("abcdef0123456789", k=24))
    if rng.random() < 0.3:
        metadata["labels"] = {"team": rng.choice(["core", "growth", "infra", "sec"]), "env": rng.choice(["prod", "staging"])}
    event: dict = {
        "event_id": f"{prefix}-{n:08d}",
        # Clients send events shortly after they happen: times rise through the run, a little out
        # of order, as a live log's do.
        "timestamp": _iso(now + timedelta(seconds=n * SECONDS_BETWEEN_EVENTS - rng.uniform(0, 90))),
        "action": action,
        "actor": actor,
        "resource": {"type": rtype, "id": rid, "name": f"{project}-{rtype}-{rng.randrange(100)}"},
        "outcome": outcome,
        "severity": rng.choices(["info", "low", "medium", "high", "critical"], [70, 12, 10, 6, 2])[0],
        "ip_address": ip,
        "user_agent": rng.choice(AGENTS),
        "session_id": f"sess_{rng.randrange(16**12):012x}",
        "auth_method": rng.choice(["password", "saml", "oidc", "token", "mfa"]),
        "project": project,
        "region": region,
        "request": {"method": method, "path": path.format(id=rid), "status_code": 200 if outcome == "success" else rng.choice([400, 401, 403, 500])},
        "metadata": metadata,
        "tags": rng.sample(TAGS, rng.randrange(0, 4)),
        "description": f"{actor['name']} ran {action} on {rtype} {rid} in {project} ({region}): {outcome}.",
    }
    if rng.random() < 0.4:
        event["trace_id"] = f"{rng.randrange(16**32):032x}"
    if mutates:
        size = rng.choice([2, 4, 8])
        event["changes"] = {
            "before": {"size": size, "roles": ["viewer"], "enabled": True},
            "after": {"size": size * 2, "roles": ["viewer", "editor"], "enabled": rng.random() < 0.9},
        }
    if rng.random() < 0.1:
        # Some clients send camelCase keys.
        event["eventId"] = event.pop("event_id")
        event["ipAddress"] = event.pop("ip_address")
        event["userAgent"] = event.pop("user_agent")
    return event


def make_bodies(count: int, batch: int, *, prefix: str, seed: int) -> list[tuple[list[dict], bytes]]:
    """Batches of events with their request bodies, encoded before any timing starts."""
    rng = random.Random(seed)
    now = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)
    events = [make_event(rng, n, prefix=prefix, now=now) for n in range(count)]
    batches = [events[i:i + batch] for i in range(0, count, batch)]
    return [(items, json.dumps({"events": items}).encode("utf-8")) for items in batches]


# --- the server and the clients --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(bench: Bench, workers: int, interface: str = "asgi"):
    """uvicorn serving the app on a free port with `workers` processes; its base URL.

    `asgi` is how `manage.py serve` deploys the console; `wsgi` (uvicorn's WSGI interface, a
    thread pool) is only a comparison.
    """
    from auditconsole.processes import processes_stop  # the project's root is on sys.path under run.py

    port = _free_port()
    app = "auditconsole.asgi:application" if interface == "asgi" else "auditconsole.wsgi:application"
    extra = [] if interface == "asgi" else ["--interface", "wsgi"]
    process = subprocess.Popen(
        [bench.python, "-m", "uvicorn", app, "--workers", str(workers), *extra,
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=bench.root, env=bench.env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}")
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        processes_stop([process], timeout=30)


@dataclass
class HttpRun:
    events: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def post_batches(clients: list[httpx.Client], url: str, batches: list[tuple[list[dict], bytes]]) -> HttpRun:
    """Send every batch, `len(clients)` at a time; each must be 202 with every event created."""
    lock = threading.Lock()
    queue = iter(batches)
    latencies: list[float] = []
    failures: list[str] = []
    start = threading.Barrier(len(clients) + 1)

    def work(client: httpx.Client) -> None:
        start.wait()
        while not failures:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            events, body = item
            began = time.perf_counter()
            try:
                response = client.post(url, content=body)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            elapsed = time.perf_counter() - began
            if response.status_code != 202:
                failures.append(f"HTTP {response.status_code}: {response.text[:500]}")
                return
            accepted = response.json()["accepted"]
            if accepted != len(events):
                failures.append(f"{accepted} of {len(events)} events accepted")
                return
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise AssertionError("ingest failed: " + failures[0])
    return HttpRun(events=sum(len(events) for events, _ in batches), seconds=seconds, latencies=latencies)


@dataclass
class ApiTrial:
    workers: int
    interface: str
    runs: list[HttpRun]
    db_sessions: int

    @property
    def events(self) -> int:
        return sum(run.events for run in self.runs)

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def requests(self) -> int:
        return sum(len(run.latencies) for run in self.runs)

    @property
    def latencies(self) -> list[float]:
        return sorted(latency for run in self.runs for latency in run.latencies)


def api_trial(bench: Bench, workers: int, warmup, rounds, *, interface: str = "asgi", between=None) -> ApiTrial:
    """Fresh database and server; warm-up batches (not timed), then each round of batches timed.

    `between(index)` runs after each timed round while the server idles (the COPY baseline).
    """
    bench.fresh_database()
    token = bench.issue_ingest_token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with serve(bench, workers, interface) as base:
        clients = [httpx.Client(headers=headers, timeout=300) for _ in range(bench.options.clients)]
        try:
            url = base + "/api/v1/events"
            # Each client's keep-alive connection, and the worker it lands on, is warmed up
            # (imports, URL resolution, database connection) before the clock starts.
            post_batches(clients, url, warmup)
            sessions_before = _sessions_opened(bench)
            runs = []
            for index, batches in enumerate(rounds):
                runs.append(post_batches(clients, url, batches))
                if between is not None:
                    between(index)
        finally:
            for client in clients:
                client.close()
        sessions = _sessions_opened(bench) - sessions_before
    return ApiTrial(workers=workers, interface=interface, runs=runs, db_sessions=sessions)


def _sessions_opened(bench: Bench) -> int:
    """Database sessions ever opened on the scratch database (PostgreSQL 14+ statistics).

    Statistics reach the shared counters up to a second late; the wait makes the count exact
    enough to tell one connection per request from one per worker.
    """
    import psycopg

    time.sleep(1.2)
    with psycopg.connect(bench.admin_url) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", [bench.database_url.rsplit("/", 1)[1]]
        ).fetchone()
    return row[0] if row else 0


# --- baselines -------------------------------------------------------------------------------


def copy_rows(batches) -> list[list[tuple]]:
    """The batches as fully formed rows, as chain_append hands them to COPY.

    Every stored value is what ingest stores (normalize_event's output, jsonb as canonical JSON
    text, received_at, 32-byte prev_hash and hash chained by SHA-256); seq and event_id are moved
    out of the range the API uses since both are unique. The digests are taken over the row's
    values rather than RFC 8785 content: COPY's cost does not depend on which 32 bytes they are.
    """
    from apps.events.canonical import canonical_json
    from apps.events.chain import CONTENT_FIELDS
    from apps.events.schema import normalize_event

    received_at = datetime.now(timezone.utc)
    prev, seq, out = bytes(32), COPY_SEQ_OFFSET, []
    for events, _ in batches:
        rows = []
        for raw in events:
            values = normalize_event(raw)
            seq += 1
            values.update(seq=seq, received_at=received_at, event_id=values["event_id"] + "~copy")
            row = tuple(
                (None if values[name] is None else canonical_json(values[name]).decode())
                if name in ("changes", "metadata") else values[name]
                for name in CONTENT_FIELDS
            )
            digest = hashlib.sha256(prev + repr(row).encode()).digest()
            rows.append(row + (prev, digest))
            prev = digest
        out.append(rows)
    return out


def copy_baseline(bench: Bench, row_batches: list[list[tuple]]) -> HttpRun:
    """COPY the rows from one connection, one transaction per batch, each rolled back.

    Rolling back leaves the table holding exactly the chain (so verify_chain still covers the
    whole table) while the COPY pays for every heap and index insert and trigger check.
    """
    import psycopg

    from apps.events.chain import CONTENT_FIELDS

    statement = f"COPY audit_event ({', '.join(CONTENT_FIELDS)}, prev_hash, hash) FROM STDIN"
    latencies = []
    with psycopg.connect(bench.database_url) as conn:
        began = time.perf_counter()
        for rows in row_batches:
            started = time.perf_counter()
            with conn.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.rollback()
            latencies.append(time.perf_counter() - started)
        seconds = time.perf_counter() - began
    return HttpRun(events=sum(len(rows) for rows in row_batches), seconds=seconds, latencies=latencies)


def canonical_blobs() -> tuple[list[bytes], bytes]:
    """The canonical bytes chain_verify hashes, for every stored event; and the head hash."""
    from django.db import connection

    from apps.events.canonical import canonical_json
    from apps.events.chain import CONTENT_FIELDS, content_of

    blobs = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(CONTENT_FIELDS)} FROM audit_event ORDER BY seq")
        for row in cursor.fetchall():
            blobs.append(canonical_json(content_of(dict(zip(CONTENT_FIELDS, row)))))
        cursor.execute("SELECT hash FROM audit_chain_head WHERE id = 1")
        head = bytes(cursor.fetchone()[0])
    return blobs, head


def _stored_counts() -> tuple[int, int]:
    """Events stored, and how many of them the bench sent."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE event_id LIKE 'evt-bench-%%') FROM audit_event")
        return cursor.fetchone()


_STORED_COLUMNS = None


def fetch_rows(bench: Bench, parts: int) -> int:
    """Read every stored row (all its columns, hashes included) out of PostgreSQL and drop it:
    `COPY (SELECT ...) TO STDOUT`, the cheapest way to get them into a process, in `parts`
    contiguous seq ranges read at once by as many forked processes (one connection each), as
    chain_verify splits its walk. Returns the bytes read."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import psycopg

    with psycopg.connect(bench.database_url) as conn:
        first, last = conn.execute("SELECT min(seq), max(seq) FROM audit_event").fetchone()
    size = -(-(last - first + 1) // parts)
    ranges = [(bench.database_url, start, min(start + size - 1, last)) for start in range(first, last + 1, size)]
    if parts == 1:
        return _fetch_part(ranges[0])
    with ProcessPoolExecutor(max_workers=parts, mp_context=multiprocessing.get_context("fork")) as pool:
        return sum(pool.map(_fetch_part, ranges))


def _fetch_part(job) -> int:
    import psycopg

    from apps.events.chain import CONTENT_FIELDS

    url, start, end = job
    read = 0
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        sql = (f"COPY (SELECT {', '.join(CONTENT_FIELDS)}, prev_hash, hash FROM audit_event "
               f"WHERE seq BETWEEN {int(start)} AND {int(end)} ORDER BY seq) TO STDOUT")
        with cursor.copy(sql) as copy:
            for block in copy:
                read += len(block)
    return read


def hash_loop(blobs: list[bytes]) -> bytes:
    sha256 = hashlib.sha256
    prev = bytes(32)
    for blob in blobs:
        prev = sha256(prev + blob).digest()
    return prev


def timed(func):
    began = time.perf_counter()
    result = func()
    return time.perf_counter() - began, result


# --- where the time goes ---------------------------------------------------------------------


INGEST_STAGES = ["parse JSON body", "normalize_event", "chain_append (rows prepared, then under the chain-head lock)",
                 "response JSON"]


def ingest_stages(batches) -> dict[str, float]:
    """Seconds in each of event_ingest's stages, in this process, over the given batches."""
    from django.http import JsonResponse

    from apps.events.chain import chain_append
    from apps.events.ingest import IngestResult, events_from_body
    from apps.events.schema import normalize_event

    seconds = dict.fromkeys(INGEST_STAGES, 0.0)
    parse, normalize, append, respond = INGEST_STAGES
    for _, body in batches:
        began = time.perf_counter()
        raw = events_from_body(body, "application/json", {})
        parsed = time.perf_counter()
        normalized = [normalize_event(item) for item in raw]
        ready = time.perf_counter()
        appended = chain_append(normalized)
        done = time.perf_counter()
        JsonResponse(IngestResult(appended=appended).as_dict(), status=202).content
        answered = time.perf_counter()
        seconds[parse] += parsed - began
        seconds[normalize] += ready - parsed
        seconds[append] += done - ready
        seconds[respond] += answered - done
    return seconds


def ingest_plain(batches) -> None:
    """What the API view does with each body, minus HTTP."""
    from django.http import JsonResponse

    from apps.events.ingest import event_ingest, events_from_body

    for _, body in batches:
        result = event_ingest(events_from_body(body, "application/json", {}))
        JsonResponse(result.as_dict(), status=202).content


def profile(bench: Bench, name: str, func, *, prepare=None) -> pstats.Stats:
    """func(prepare()) under cProfile; listing in bench/out/<name>.txt, data in <name>.prof."""
    argument = prepare() if prepare else None
    profiler = cProfile.Profile()
    profiler.enable()
    func(argument) if prepare else func()
    profiler.disable()
    profiler.dump_stats(bench.out_dir / f"{name}.prof")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(50)
    stats.sort_stats("cumulative").print_stats(50)
    (bench.out_dir / f"{name}.txt").write_text(text.getvalue())
    return stats


def _label(func: tuple) -> str:
    filename, _, name = func
    if filename == "~":
        return name.strip("<>{}")
    module = filename.rsplit("/", 1)[-1].removesuffix(".py")
    if "site-packages/" in filename:
        module = filename.split("site-packages/", 1)[1].split("/", 1)[0] + "." + module
    return f"{module}.{name}"


def callees(stats: pstats.Stats, function: str, top: int = 6) -> tuple[float, list[tuple[str, float]]]:
    """Time spent under each function `function` calls, and its own code (cProfile's view)."""
    table = stats.stats
    matches = [key for key in table if key[2] == function and "/apps/" in key[0]]
    if not matches:
        return 0.0, []
    parent = max(matches, key=lambda key: table[key][3])
    total = table[parent][3]
    parts = [("(its own code)", table[parent][2])]
    for func, (*_, callers) in table.items():
        if parent in callers and func != parent:
            parts.append((_label(func), callers[parent][3]))
    parts.sort(key=lambda part: -part[1])
    return total, parts[:top]


# What each function's own time counts as, by where it lives; the first rule that matches wins.
# Built-in functions (hashing aside) count as what their heaviest caller counts as. Rules go by
# module and by words in names, not by the chain's private names, so they follow its changes;
# any other module of the project is named as itself (a new step under the lock shows up alone).
CATEGORIES = [
    ("sha256", lambda path, name: path == "~" and ("sha256" in name or "digest" in name)),
    ("COPY, Python side (psycopg formatting rows)",
     lambda path, name: "psycopg" in path and ("copy" in path.rsplit("/", 1)[-1] or "copy" in name)),
    ("database: statements, fetches, waits for the server (psycopg, Django)",
     lambda path, name: "psycopg" in path or "/django/db/" in path),
    ("JSON decoding (stored jsonb)", lambda path, name: "json/decoder" in path or "json/__init__" in path
     or name in ("_json_number", "_json_float", "_load_jsonb")),
    ("canonical JSON", lambda path, name: "canonical" in path or "rfc8785" in path or "json/encoder" in path
     or "canonical" in name or "content_bytes" in name or "hashed_content" in name or "is_plain" in name),
    ("chain.py: content fields and the per-event loop", lambda path, name: path.endswith(("/apps/events/chain.py", "/apps/events/chain_verification.py"))
     or "ipaddress" in path or "/django/utils/" in path),
]


def _project_module(path: str) -> str | None:
    """`apps/events/rollups.py` for a file of the project, else None."""
    marker = "/apps/"
    if marker not in path or "site-packages" in path:
        return None
    return "Python in apps/" + path.split(marker, 1)[1]


OTHER = "other"


def categorize(stats: pstats.Stats) -> dict[str, float]:
    """cProfile's own times summed by category."""
    table = stats.stats
    known: dict[tuple, str] = {}

    def category(func: tuple, depth: int = 0) -> str:
        if func in known:
            return known[func]
        path, _, name = func
        found = next((label for label, rule in CATEGORIES if rule(path, name)), None) or _project_module(path)
        if found is None and path == "~" and depth < 4 and table[func][4]:
            callers = table[func][4]
            found = category(max(callers, key=lambda caller: callers[caller][2]), depth + 1)
        known[func] = found or OTHER
        return known[func]

    sums: dict[str, float] = {}
    for func, (_, _, own, _, _) in table.items():
        if _label(func).startswith(("bench.", "ingest.", "cProfile", "method 'disable'")):
            continue
        label = category(func)
        sums[label] = sums.get(label, 0.0) + own
    return sums


def http_overhead(bench: Bench, batches, twins) -> tuple[float, float, int]:
    """Median seconds a request for one client against one ASGI worker, and in-process.

    The two alternate, request by request, on the same database: `twins` are the same events
    under other event_ids, ingested in this process between the HTTP requests, so that load
    elsewhere on the machine falls on both alike. Also the database sessions the server opened.
    """
    bench.fresh_database()
    token = bench.issue_ingest_token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    over_http, in_process = [], []
    with serve(bench, 1) as base, httpx.Client(headers=headers, timeout=300) as client:
        url = base + "/api/v1/events"
        post_batches([client], url, batches[:2])
        ingest_plain(twins[:2])
        sessions_before = _sessions_opened(bench)
        for request, twin in zip(batches[2:], twins[2:]):
            over_http.append(post_batches([client], url, [request]).seconds)
            in_process.append(timed(lambda: ingest_plain([twin]))[0])
        sessions = _sessions_opened(bench) - sessions_before
    return statistics.median(over_http), statistics.median(in_process), sessions


# --- the report ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def _share_table(parts: dict[str, float], events: int, batch: int, order: list[str] | None = None) -> list[str]:
    whole = sum(parts.values())
    names = order or sorted(parts, key=lambda name: -parts[name])
    lines = [f"| part | ms per {batch} events | µs per event | share |", "|---|---:|---:|---:|"]
    for name in names:
        seconds = parts.get(name, 0.0)
        lines.append(f"| {name} | {_ms(seconds / events * batch)} | {seconds / events * 1e6:,.1f} | {seconds / whole * 100:.0f}% |")
    lines.append(f"| **total** | **{_ms(whole / events * batch)}** | **{whole / events * 1e6:,.1f}** | 100% |")
    return lines


def _callee_table(stats: pstats.Stats, functions: list[str]) -> list[str]:
    """What the named functions (those that exist and matter) spend their time under."""
    whole = max(row[3] for row in stats.stats.values())
    lines = ["| function | time under it goes to (share of the function's time) |", "|---|---|"]
    for function in functions:
        total, parts = callees(stats, function)
        if total > whole * 0.03:
            shares = ", ".join(f"{name} {seconds / total * 100:.0f}%" for name, seconds in parts)
            lines.append(f"| `{function}` | {shares} |")
    return lines


# --- the benchmark ---------------------------------------------------------------------------


def run(bench: Bench) -> Section:
    options = bench.options
    batch, clients = options.batch, options.clients
    worker_counts = [int(x) for x in options.workers.split(",") if x.strip()]
    warmup_n = WARMUP_BATCHES_PER_CLIENT * clients
    timed_n = max(ROUNDS, options.events // batch)

    bench.log(f"generating {(warmup_n + timed_n) * batch:,} events in batches of {batch}")
    data = make_bodies((warmup_n + timed_n) * batch, batch, prefix="evt-bench", seed=20260310)
    warmup, batches = data[:warmup_n], data[warmup_n:]
    events_n = timed_n * batch
    step = -(-timed_n // ROUNDS)
    rounds = [batches[i:i + step] for i in range(0, timed_n, step)]
    sizes = [len(body) for _, body in batches]
    decimals = sum(1 for events, _ in batches for e in events if e["action"].startswith(("billing.", "cost.")))

    # Choose the worker count: short trials of each candidate on a fresh database, taken in
    # turns so that a burst of load elsewhere on the machine does not decide alone.
    select = batches[: max(1, options.select_events // batch)]
    candidates = [("asgi", workers) for workers in worker_counts]
    if options.compare_wsgi:
        candidates += [("wsgi", workers) for workers in worker_counts]
    trials: dict[tuple[str, int], list[ApiTrial]] = {}
    if len(candidates) > 1:
        for turn in range(SELECT_TURNS):
            for interface, workers in candidates:
                try:
                    trial = api_trial(bench, workers, warmup, [select], interface=interface)
                except (RuntimeError, AssertionError) as exc:
                    if interface == "asgi":
                        raise
                    bench.log(f"the WSGI comparison failed, left out: {exc}")
                    candidates = [c for c in candidates if c[0] == "asgi"]
                    break
                trials.setdefault((interface, workers), []).append(trial)
                bench.log(f"trial {turn + 1}/{SELECT_TURNS}: {interface} {workers} workers: {fmt_rate(trial.rate)} events/s")
    best_rate = {key: max(t.rate for t in found) for key, found in trials.items()}
    chosen = max(worker_counts, key=lambda k: best_rate.get(("asgi", k), 0.0))

    # The measured run. After each round the COPY baseline loads that round's rows while the
    # server idles, so each API round has a baseline measured seconds away from it.
    bench.log(f"building the COPY baseline's rows")
    copy_round_rows = [copy_rows(round_batches) for round_batches in rounds]
    copy_runs: list[HttpRun] = []
    bench.log(f"measured run: {events_n:,} events in {ROUNDS} rounds, {clients} clients, {chosen} uvicorn workers")
    trial = api_trial(bench, chosen, warmup, rounds,
                      between=lambda index: copy_runs.append(copy_baseline(bench, copy_round_rows[index])))
    api_rate = trial.rate
    copy_events = sum(run.events for run in copy_runs)
    copy_seconds = sum(run.seconds for run in copy_runs)
    copy_rate = copy_events / copy_seconds
    round_ratios = [api.rate / copy.rate for api, copy in zip(trial.runs, copy_runs)]
    bench.log(f"API ingest {fmt_rate(api_rate)} events/s, raw COPY {fmt_rate(copy_rate)} events/s")

    # Verification against raw hashing, taken in turns; the fastest of each is kept.
    from django.db import connections

    from apps.events.chain_verification import chain_verify

    connections.close_all()
    chain_verify()  # The first read of fresh pages sets their hint bits; not timed.
    blobs, head = canonical_blobs()
    stored, sent = _stored_counts()
    # The console may add events of its own (its audit trail); every event sent must be there.
    assert sent == (warmup_n + timed_n) * batch, f"{sent} of {(warmup_n + timed_n) * batch} events sent are stored"
    # What `manage.py verify_chain` runs: one process per CPU, parts of at least
    # PARALLEL_MIN_EVENTS; the rows are read in as many parts for the second baseline.
    from apps.events.chain_verification import verify_parts

    verify_workers = verify_parts(stored, len(os.sched_getaffinity(0)))
    verify_times, verify_one_times, fetch_times, fetch_one_times, hash_times = [], [], [], [], []
    for _ in range(VERIFY_TURNS):
        for count, times in ((verify_workers, verify_times), (1, verify_one_times)):
            seconds, verification = timed(lambda: chain_verify(workers=count))
            assert verification.valid, f"the chain does not verify after the run: {verification.as_dict()}"
            assert verification.checked == stored, f"{verification.checked} of {stored} stored events verified"
            times.append(seconds)
        fetch_times.append(timed(lambda: fetch_rows(bench, verify_workers))[0])
        seconds, fetched_bytes = timed(lambda: fetch_rows(bench, 1))
        fetch_one_times.append(seconds)
        seconds, last = timed(lambda: hash_loop(blobs))
        assert last == head, "the raw hash loop does not end at the chain head: its bytes are not verify's"
        hash_times.append(seconds)
    verified = verification.checked
    verify_rate = verified / min(verify_times)
    verify_one_rate = verified / min(verify_one_times)
    fetch_rate = stored / min(fetch_times)
    fetch_one_rate = stored / min(fetch_one_times)
    hash_rate = len(blobs) / min(hash_times)
    bench.log(f"chain_verify {fmt_rate(verify_rate)} events/s ({verify_workers} processes), {fmt_rate(verify_one_rate)} "
              f"(one); reading the rows {fmt_rate(fetch_rate)} ({verify_workers} connections), raw sha256 "
              f"{fmt_rate(hash_rate)} events/s")

    # Where verification time goes: cProfile over the same chain_verify.
    bench.log("profiling verification and ingest in-process")
    verify_stats = profile(bench, "verify_profile", chain_verify)  # one process: cProfile sees only its own

    # Where ingest time goes (not part of the targets), on fresh databases.
    from apps.events.chain import chain_append
    from apps.events.ingest import events_from_body
    from apps.events.schema import normalize_event

    profile_batches = batches[:PROFILE_BATCHES]
    profile_events = len(profile_batches) * batch
    stages = None
    for _ in range(STAGE_TURNS):
        bench.fresh_database()
        found = ingest_stages(profile_batches)
        stages = found if stages is None else {name: min(stages[name], found[name]) for name in stages}
    lock_hold = stages[INGEST_STAGES[2]] / len(profile_batches)
    bench.fresh_database()
    ingest_stats = profile(bench, "ingest_profile", lambda: ingest_plain(profile_batches))
    bench.fresh_database()
    append_stats = profile(
        bench, "chain_append_profile",
        lambda normalized: [chain_append(events) for events in normalized],
        prepare=lambda: [[normalize_event(e) for e in events_from_body(body, "application/json", {})]
                         for _, body in profile_batches],
    )
    bench.log("one client against one worker, alternating with in-process ingest")
    twins = make_bodies((PROFILE_BATCHES + 2) * batch, batch, prefix="evt-twin", seed=20260310)
    single, in_process, single_sessions = http_overhead(bench, data[:PROFILE_BATCHES + 2], twins)

    # --- the report ---
    latencies = trial.latencies
    lines = [
        f"**API ingest**: {events_n:,} events in {trial.requests} timed requests of {batch}, sent in {ROUNDS} rounds "
        f"after {len(warmup)} warm-up requests ({len(warmup) * batch:,} events, not timed), by {clients} concurrent "
        f"clients (threads, one keep-alive httpx connection each) to `uvicorn auditconsole.asgi:application "
        f"--workers {chosen}` with DEBUG off. Every request answered 202 with all its events created, and "
        f"`chain_verify()` found all {verified:,} events intact afterwards.",
        "",
        f"**Raw COPY**: after each API round, the same round's rows, fully formed as chain_append hands them to COPY "
        f"(seq and event_id moved out of the chain's range), COPYed by psycopg into the same table with its "
        f"indexes and triggers, {batch} rows per transaction, from one connection; each transaction is rolled "
        f"back so the table keeps holding exactly the chain.",
        "",
        f"**Verification**: `chain_verify(workers={verify_workers})` (what `manage.py verify_chain` runs on this machine: "
        f"the range cut into {verify_workers} parts verified at once by forked processes, each reading its rows through "
        f"a server-side cursor on its own connection, on one exported snapshot) over every stored event, against a loop of "
        f"`sha256(prev + canonical bytes)` over the very same bytes held in memory (the loop ends on the chain "
        f"head's hash, which checks that they are the same bytes), and against reading the same rows out of "
        f"PostgreSQL without hashing them: `COPY (SELECT <every stored column>, prev_hash, hash ...) TO STDOUT` "
        f"in the same {verify_workers} seq ranges at once, {fetched_bytes / stored:,.0f} bytes an event, dropped as they "
        f"arrive. Fastest of {VERIFY_TURNS} runs each, taken in turns. The raw-hashing target cannot be reached by "
        f"any verifier that reads the log from the database: reading the rows alone, with nothing done to them, "
        f"runs at {fmt_ratio(fetch_rate / hash_rate)} of the hashing rate.",
        "",
        f"**Events**: {statistics.mean(sizes) / 1024:,.0f} KiB a request, {statistics.mean(sizes) / batch:,.0f} bytes "
        f"an event as JSON and {statistics.mean(len(b) for b in blobs):,.0f} bytes of canonical content; nested actor, "
        f"resource and request, metadata of 3 to 7 keys, 0 to 3 tags, changes on mutations; "
        f"{decimals / events_n * 100:.0f}% carry decimal amounts (billing), 10% use camelCase keys, "
        f"{len(FAMILIES)} action families; times rise through the run, a little out of order, about "
        f"{SECONDS_BETWEEN_EVENTS * batch / 60:.0f} minutes a request, as a live log's do.",
        "",
        "| measure | events | seconds | events/s |",
        "|---|---:|---:|---:|",
        f"| API ingest, {clients} clients, {chosen} uvicorn workers | {events_n:,} | {trial.seconds:.2f} | {fmt_rate(api_rate)} |",
        f"| raw COPY of the same rows, {batch} per transaction | {copy_events:,} | {copy_seconds:.2f} | {fmt_rate(copy_rate)} |",
        f"| `chain_verify()` over every stored event, {verify_workers} processes | {verified:,} | {min(verify_times):.2f} | "
        f"{fmt_rate(verify_rate)} |",
        f"| `chain_verify()` over every stored event, one process | {verified:,} | {min(verify_one_times):.2f} | "
        f"{fmt_rate(verify_one_rate)} |",
        f"| reading the same rows without hashing, {verify_workers} connections | {stored:,} | {min(fetch_times):.2f} | "
        f"{fmt_rate(fetch_rate)} |",
        f"| reading the same rows without hashing, one connection | {stored:,} | {min(fetch_one_times):.2f} | "
        f"{fmt_rate(fetch_one_rate)} |",
        f"| raw sha256(prev + canonical bytes), same bytes | {len(blobs):,} | {min(hash_times):.3f} | {fmt_rate(hash_rate)} |",
        "",
        f"Verification against reading the rows: {fmt_ratio(verify_rate / fetch_rate)} with {verify_workers} processes "
        f"against {verify_workers} connections, {fmt_ratio(verify_one_rate / fetch_one_rate)} with one against one.",
        "",
        f"API ingest against raw COPY, round by round: {', '.join(fmt_ratio(r) for r in round_ratios)}. "
        f"Request latency: median {_ms(_percentile(latencies, 0.5))} ms, 95th percentile "
        f"{_ms(_percentile(latencies, 0.95))} ms (requests wait for the chain-head lock and for CPU); a {batch}-row "
        f"COPY transaction took {_ms(statistics.median(l for r in copy_runs for l in r.latencies))} ms (median). "
        f"The server opened {trial.db_sessions} database sessions during the {trial.requests} timed requests.",
        "",
        "### Server",
        "",
    ]
    if trials:
        lines += [
            f"Each candidate ingested {len(select) * batch:,} events ({clients} clients, after the same warm-up) on a "
            f"fresh database, {SELECT_TURNS} times in turns; the best of its turns is shown. The fastest ASGI "
            f"worker count, **{chosen}**, ran the measured run above. ASGI is what `manage.py serve` deploys."
            + (" WSGI (uvicorn's WSGI interface, a thread pool per worker) is shown for comparison only: Django's "
               "ASGI handler runs each request's view in a thread of its own, so its persistent database "
               "connections are never reused and every request opens a new PostgreSQL session, which a WSGI "
               "worker's threads do not." if options.compare_wsgi else ""),
            "",
            "| server | workers | events/s (best turn) | each turn | DB sessions opened per request |",
            "|---|---:|---:|---|---:|",
        ]
        for (interface, workers), found in trials.items():
            mark = " (chosen)" if interface == "asgi" and workers == chosen else ""
            per_request = statistics.mean(t.db_sessions / t.requests for t in found)
            lines.append(
                f"| {interface.upper()}{mark} | {workers} | {fmt_rate(best_rate[(interface, workers)])} | "
                f"{', '.join(fmt_rate(t.rate) for t in found)} | {per_request:.2f} |"
            )
    else:
        lines.append(f"Only {chosen} ASGI workers were tried (`--workers`).")

    lines += [
        "",
        "### Where ingest time goes",
        "",
        f"`event_ingest`'s stages in one process, without HTTP, over {len(profile_batches)} of the same requests "
        f"({profile_events:,} events) on a fresh database, {STAGE_TURNS} times; each stage's fastest time:",
        "",
        *_share_table(stages, profile_events, batch, INGEST_STAGES),
        "",
        f"chain_append holds the chain-head lock for part of its {_ms(lock_hold)} ms a request here (its events' "
        f"canonical bytes and COPY rows are prepared before it takes the lock), so however many clients and workers, "
        f"appends could go at least as fast as {fmt_rate(batch / lock_hold)} events/s before the lock limits them, "
        f"{fmt_ratio(batch / lock_hold / copy_rate)} of the raw COPY rate above, whose {batch}-row transactions took "
        f"{_ms(statistics.median(l for r in copy_runs for l in r.latencies))} ms (median).",
        "",
        f"HTTP's share: one client against one ASGI worker took {_ms(single)} ms a request (median of "
        f"{PROFILE_BATCHES}) against {_ms(in_process)} ms for the same events ingested in-process, the two "
        f"alternating request by request on one database. HTTP, ASGI, middleware, the token check and the "
        f"server's database sessions ({single_sessions} opened for {PROFILE_BATCHES} requests) add "
        f"{_ms(single - in_process)} ms a request ({(single - in_process) / single * 100:.0f}%).",
        "",
        f"Inside chain_append, by cProfile over the same {len(profile_batches)} requests (their events parsed and "
        "normalised beforehand): the own time of every function it runs, grouped by what the function does. "
        "cProfile slows pure-Python code more than C code and waits, so Python's shares are overstated. The "
        "server's work on the COPY, the duplicate check, the lock and the commit is in the database row (as "
        f"waits); the COPY alone, measured above on the same rows, takes "
        f"{_ms(statistics.median(l for r in copy_runs for l in r.latencies))} ms a request.",
        "",
        *_share_table(categorize(append_stats), profile_events, batch),
        "",
        "The largest functions split by what they call (cProfile over the whole of event_ingest):",
        "",
        *_callee_table(ingest_stats, ["normalize_event", "_finish", "chain_append", "_prepare", "canonical_text"]),
        "",
        "### Where verification time goes",
        "",
        f"`chain_verify()` in one process took {min(verify_one_times) / verified * 1e6:,.1f} µs an event above, "
        f"against {min(fetch_one_times) / stored * 1e6:,.2f} µs for reading the rows alone and "
        f"{min(hash_times) / len(blobs) * 1e6:,.2f} µs for hashing alone. By cProfile over the same walk in one "
        "process (its own time only: PostgreSQL's share shows as waits), grouped as above (same caveat):",
        "",
        *_share_table(categorize(verify_stats), verified, batch),
        "",
        *_callee_table(verify_stats, ["walk", "_hashed_content", "canonical_stored", "canonical_json_text"]),
        "",
        "Full listings, by own and by cumulative time: `bench/out/ingest_profile.txt`, "
        "`bench/out/chain_append_profile.txt` and `bench/out/verify_profile.txt` (`.prof` files beside them for "
        "pstats or snakeviz).",
    ]
    targets = [
        Target(f"API ingest (HTTP, {clients} clients, batches of {batch}, chained)", api_rate,
               "raw COPY of the same rows into the same table", copy_rate, GOAL_INGEST),
        Target(f"`verify_chain` ({verify_workers} processes)", verify_rate, "raw SHA-256 of the same canonical bytes",
               hash_rate, GOAL_VERIFY),
        Target(f"`verify_chain` ({verify_workers} processes), second baseline", verify_rate,
               f"reading the same rows from PostgreSQL without hashing ({verify_workers} connections)", fetch_rate, GOAL_VERIFY),
    ]
    return Section(title="Ingest and verification (bench/ingest.py)", body="\n".join(lines), targets=targets)


if __name__ == "__main__":
    import sys

    from run import main

    sys.exit(main(["ingest", *sys.argv[1:]]))
