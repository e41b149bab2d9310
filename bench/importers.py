"""Importing a large CloudTrail file against API ingest, both measured in this run.

1. import_events: records/s of `manage.py import_events --format cloudtrail FILE` (wall time
   of the command, Python start-up and Django set-up included) on a JSON Lines file of
   BENCH_IMPORT_RECORDS records (default 200,000) built from the shapes of the 310 real
   Stratus Red Team records in shared/realdata (each copy gets its own eventID, time,
   request id, source address and user name, so every record is a distinct event).
   Every record must be stored: the command's count is checked.
2. Baseline: API ingest, events/s through POST /api/v1/events exactly as bench/ingest.py
   measures it (uvicorn, `--workers` first value, `--clients` concurrent clients, `--batch`
   events per request, `--events` events timed), on a fresh database, in the same run.
   Target: 1 at no less than half of 2 (issue 15).

3. Like for like: the same `--events` first records of the file, (a) mapped by the CloudTrail
   importer in this process before the clock starts and sent through POST /api/v1/events the
   same way as 2, and (b) imported by import_events from a file of just those records, each on
   a fresh database. A CloudTrail record is kept whole in metadata, and the events table
   indexes the text of the event and its metadata with a trigram GIN index: some 1,560
   characters and 660 trigrams a record, against 350 characters and 175 trigrams for the API
   bench's events (3.8 times), so the database's work per event is several times the API
   bench's, for both ways in. (b) against (a) says whether the import is the faster way in for
   the very same events, as it should be (the same chain append without HTTP).
"""
from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ingest import WARMUP_BATCHES_PER_CLIENT, api_trial, make_bodies
from run import Bench, Section, Target, fmt_rate, fmt_ratio

GOAL = 0.5


def _shared() -> Path:
    """shared/ beside the checkout (as CI lays it out), else SHARED_DIR, else /work/shared (as tests/factories.py)."""
    if os.environ.get("SHARED_DIR"):
        return Path(os.environ["SHARED_DIR"])
    beside = Path(__file__).resolve().parents[2] / "shared"
    return beside if beside.is_dir() else Path("/work/shared")


STRATUS = _shared() / "realdata" / "aws_cloudtrail" / "stratus_red_team"
USERS = ["christophe", "alice", "bob", "carla", "dmitri", "eve", "farid", "greta", "hiro", "ines"]


def build_file(path: Path, count: int, seed: int = 15) -> int:
    """A JSON Lines file of `count` CloudTrail records cycling through the real samples' shapes."""
    shapes = [record for file in sorted(STRATUS.glob("*.json")) for record in json.loads(file.read_text())]
    if not shapes:
        raise RuntimeError(f"no Stratus Red Team samples in {STRATUS}: set SHARED_DIR to the shared/ folder")
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with open(path, "w") as out:
        for n in range(count):
            record = copy.deepcopy(shapes[n % len(shapes)])
            record["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            record["requestID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            record["eventTime"] = (start + timedelta(seconds=n * 3)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if rng.random() < 0.9:
                record["sourceIPAddress"] = f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            identity = record.get("userIdentity") or {}
            if identity.get("type") == "IAMUser":
                identity["userName"] = rng.choice(USERS)
                identity["arn"] = f"arn:aws:iam::{identity.get('accountId', '123456789012')}:user/{identity['userName']}"
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path.stat().st_size


def time_import(bench: Bench, path: Path, count: int) -> float:
    bench.fresh_database()
    began = time.perf_counter()
    done = subprocess.run([bench.python, "manage.py", "import_events", "--quiet", "--format", "cloudtrail", str(path)],
                          cwd=bench.root, env=bench.env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0 or not done.stdout.startswith(f"imported {count} events"):
        raise RuntimeError(f"import_events failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-2000:]}")
    return seconds


def run(bench: Bench) -> Section:
    options = bench.options
    count = int(os.environ.get("BENCH_IMPORT_RECORDS", "200000"))
    workers = int(str(options.workers).split(",")[0])
    path = bench.out_dir / "importers-cloudtrail.jsonl"
    first = bench.out_dir / "importers-cloudtrail-first.jsonl"
    bench.log(f"importers: building {count:,} CloudTrail records")
    size = build_file(path, count)
    with open(path) as lines, open(first, "w") as out:
        out.writelines(line for line, _ in zip(lines, range(options.events)))

    bench.log(f"importers: API ingest baseline, {options.events:,} events, {workers} workers")
    warmup = make_bodies(WARMUP_BATCHES_PER_CLIENT * options.clients * options.batch, options.batch, prefix="warm", seed=3)
    timed = make_bodies(options.events, options.batch, prefix="evt", seed=5)
    api = api_trial(bench, workers, warmup, [timed])

    bench.log(f"importers: API ingest of {options.events:,} mapped CloudTrail events (like for like)")
    same = api_trial(bench, workers, warmup, [mapped_bodies(path, options.events, options.batch)])

    bench.log(f"importers: import_events of the same {options.events:,} records (like for like)")
    first_seconds = time_import(bench, first, options.events)
    first_rate = options.events / first_seconds
    first.unlink()

    bench.log(f"importers: import_events of {count:,} records")
    seconds = time_import(bench, path, count)
    rate = count / seconds
    path.unlink()

    target = Target("import_events, CloudTrail records/s", rate, "API ingest events/s", api.rate, GOAL, "records/s")
    like = Target(f"import_events of {options.events:,} CloudTrail records, records/s", first_rate,
                  "API ingest of the same CloudTrail events", same.rate, 1.0, "records/s")
    body = "\n".join([
        "Importing a CloudTrail file with `manage.py import_events` against API ingest measured in the same run "
        "(issue 15: at least half the API rate), and, like for like, against API ingest of the very same "
        "CloudTrail events (the import should be the faster way in: the same chain append without HTTP).",
        "",
        "| what | count | seconds | rate |",
        "|---|---:|---:|---:|",
        f"| import_events --format cloudtrail (JSON Lines, {size / 1024 / 1024:,.0f} MiB) | {count:,} | {seconds:,.1f} | {fmt_rate(rate)} records/s |",
        f"| API ingest (POST /api/v1/events, {workers} workers, {options.clients} clients, {options.batch}/request) | {api.events:,} | {api.seconds:,.1f} | {fmt_rate(api.rate)} events/s |",
        f"| **ratio (the issue's target)** | | | **{fmt_ratio(target.ratio)}** (target ≥ {fmt_ratio(GOAL)}) |",
        f"| import_events of the file's first {options.events:,} records | {options.events:,} | {first_seconds:,.1f} | {fmt_rate(first_rate)} records/s |",
        f"| API ingest of the same {options.events:,} CloudTrail events, mapped beforehand | {same.events:,} | {same.seconds:,.1f} | {fmt_rate(same.rate)} events/s |",
        f"| **ratio, like for like** | | | **{fmt_ratio(like.ratio)}** (≥ 100%: the import is the faster way in) |",
        "",
        f"Records: the 310 real Stratus Red Team records cycled, each copy with its own eventID, time, request id, "
        f"user and (90%) source address. The command's time includes starting Python and Django; "
        f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
    ])
    return Section("Importers: import_events against API ingest", body, [target, like])


def mapped_bodies(path: Path, count: int, batch: int) -> list[tuple[list[dict], bytes]]:
    """The first `count` records of the file mapped onto events by the CloudTrail importer, as
    request bodies of `batch` events (encoded before any timing starts)."""
    from apps.importers.formats import cloudtrail

    events = []
    with open(path) as lines:
        for line in lines:
            if len(events) == count:
                break
            events.append(cloudtrail.event_from(json.loads(line)))
    batches = [events[i:i + batch] for i in range(0, len(events), batch)]
    return [(items, json.dumps({"events": items}).encode("utf-8")) for items in batches]
