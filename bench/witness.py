"""What witnessed checkpoints every few seconds cost ingest (bench/run.py module).

The worker signs the chain head every AUDIT_CHECKPOINT_SECONDS (10 s) and appends the new
checkpoint to the witness file (apps.events.witness). A checkpoint takes the chain-head lock
for one signature and one insert, so it delays appends that arrive meanwhile. Measured here,
in one process against a fresh scratch database, with event_ingest called directly (no HTTP):

- baseline: batches of 100 events, no checkpoints;
- every second: the same, while another process signs and witnesses the head every second (ten times
  the default frequency, so the cost of the default is at most a tenth of what shows);
- every batch: a checkpoint and a witness append after each batch, the worst case.

Run alone: `DATABASE_URL=... python bench/witness.py measure OUT.json` on a migrated database.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = int(os.environ.get("WBENCH_EVENTS", "6000"))
BATCH = 100
ROUNDS = 3


def run(bench):
    sys.path.insert(0, str(Path(__file__).parent))
    from run import Section

    bench.fresh_database()
    out = bench.out_dir / "witness.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([bench.python, str(Path(__file__)), "measure", str(out)], cwd=ROOT, env=bench.env, check=True)
    return Section(title="Witnessed checkpoints: their cost to ingest (bench/witness.py)",
                   body=render(json.loads(out.read_text())))


def render(results: dict) -> str:
    base = results["baseline"]["events_per_s"]
    rows = ["| setup | events/s | vs baseline | checkpoints |", "|---|---:|---:|---:|"]
    for name, result in results.items():
        if name == "load":
            continue
        rows.append(f"| {name} | {result['events_per_s']:,.0f} | {result['events_per_s'] / base:.2f}x "
                    f"| {result['checkpoints']} |")
    return "\n".join([f"{EVENTS:,} events in batches of {BATCH} per setup, the setups taking turns {ROUNDS} times; load average {results['load']}.", "",
                      *rows])


def measure(out: Path) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    witness_dir = tempfile.mkdtemp(prefix="witness-bench-")
    os.environ["AUDIT_WITNESS_DIR"] = witness_dir
    django.setup()
    from django.db import connection

    from apps.events.chain import checkpoint_create
    from apps.events.ingest import event_ingest
    from apps.events.models import Checkpoint
    from apps.events.witness import witness_publish

    def batches(prefix: str, count: int):
        for start in range(0, count, BATCH):
            yield [{"event_id": f"{prefix}-{n}", "action": "bench.witness", "actor_id": f"user-{n % 50}",
                    "project": "bench", "metadata": {"n": n}} for n in range(start, start + BATCH)]

    def checkpoint_and_witness() -> None:
        checkpoint_create()
        witness_publish()

    def timed(prefix: str, count: int, after_batch=None) -> float:
        started = time.perf_counter()
        for batch in batches(prefix, count):
            event_ingest(batch)
            if after_batch:
                after_batch()
        return time.perf_counter() - started

    # The setups take turns, ROUNDS times, so that the table's growth (and the machine's noise)
    # falls on each alike; each setup's rate is its events over its summed time.
    setups = ["baseline", "checkpoint every second", "checkpoint every batch"]
    seconds = dict.fromkeys(setups, 0.0)
    checkpoints = dict.fromkeys(setups, 0)
    per_round = EVENTS // ROUNDS
    # The checkpointer runs in a process of its own, as the worker does (not competing for this
    # one's GIL), started once and idle unless the `active` file exists.
    active = Path(witness_dir) / "active"
    checkpointer = subprocess.Popen([sys.executable, str(Path(__file__)), "checkpointer", str(active)], env=os.environ)
    time.sleep(5)  # its start-up is not part of any measurement
    try:
        for round_ in range(ROUNDS):
            for setup in setups:
                before = Checkpoint.objects.count()
                prefix = f"{setup}-{round_}"
                if setup == "baseline":
                    seconds[setup] += timed(prefix, per_round)
                elif setup == "checkpoint every batch":
                    seconds[setup] += timed(prefix, per_round, after_batch=checkpoint_and_witness)
                else:
                    active.touch()
                    try:
                        seconds[setup] += timed(prefix, per_round)
                    finally:
                        active.unlink()
                checkpoints[setup] += Checkpoint.objects.count() - before
    finally:
        checkpointer.terminate()
        checkpointer.wait()
    results = {setup: {"events_per_s": per_round * ROUNDS / seconds[setup], "checkpoints": checkpoints[setup]}
               for setup in setups}
    results["load"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    out.write_text(json.dumps(results, indent=2))
    print(render(results))


def checkpointer(active: Path) -> None:
    """While `active` exists, sign and witness the head every second (the worker: every 10 s)."""
    import django

    django.setup()
    from apps.events.chain import checkpoint_create
    from apps.events.witness import witness_publish

    while True:
        time.sleep(1.0)
        if active.exists():
            checkpoint_create()
            witness_publish()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "measure":
        measure(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "checkpointer":
        checkpointer(Path(sys.argv[2]))
    else:
        sys.exit("usage: bench/run.py witness   (this file is a module of bench/run.py)")
