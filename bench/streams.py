"""A webhook stream keeping up with ingest: lag from storing an event to a local receiver
getting it (bench/run.py module).

On a fresh scratch database: a local HTTP receiver (http.server in a thread of the bench's
child process) records when each event_id arrives; the real worker (`manage.py run_worker
--queue streams`, its periodic delivery every 5 s) streams a webhook destination to it; the
child ingests SBENCH_EVENTS events (default 30,000) through `event_ingest` in batches of 500 as
fast as it can (the same path as the API's ingest, without HTTP). Lag of an event = arrival at
the receiver - its received_at (both this machine's clock). Baseline in the same run: the
ingest rate itself (events/s stored), against the delivery rate (events/s acknowledged).
Targets: every event delivered, and lag p95 ≤ 5 s (a stream that did not keep up would see its
lag grow with the run). The delivery rate (first stored to last delivered) stands beside the
ingest rate; it is a little lower by construction, the last batch arriving one lag after the
last event is stored.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = int(os.environ.get("SBENCH_EVENTS", "30000"))
BATCH = 500


def run(bench):
    from run import Section, Target

    url = bench.fresh_database()
    out = bench.out_dir / "streams.json"
    bench.log(f"streams: {EVENTS:,} events ingested while a webhook stream delivers them")
    subprocess.run([bench.python, str(Path(__file__)), "measure", str(out)], cwd=ROOT,
                   env={**bench.env, "DATABASE_URL": url}, check=True)
    result = json.loads(out.read_text())
    load = os.getloadavg()
    body = "\n".join([
        f"{EVENTS:,} events ingested by `event_ingest` in batches of {BATCH} as fast as possible, while the real "
        "worker (`run_worker --queue streams`) streamed a webhook destination (JSON, 1,000 events per batch, signed) "
        "to a local receiver. Lag = arrival at the receiver - the event's received_at.",
        "",
        "| ingest events/s | delivered events/s (first stored to last delivered) | delivered | duplicates | "
        "lag p50 | lag p95 | lag max |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['ingest_rate']:,.0f} | {result['delivery_rate']:,.0f} | {result['delivered']:,} of "
        f"{result['events']:,} | {result['duplicates']} | {result['p50']:.2f} s | {result['p95']:.2f} s | "
        f"{result['max']:.2f} s |",
        "",
        f"Load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.",
    ]) + "\n"
    targets = [Target("events delivered by the webhook stream", result["delivered"], "events ingested",
                      result["events"], 1.0, "events"),
               Target("lag p95 within 5 s (5 s / p95)", 5.0 / max(result["p95"], 1e-3), "1", 1.0, 1.0, "x")]
    return Section(title="Webhook stream against ingest (bench/streams.py)", body=body, targets=targets)


def measure(out: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from apps.events.ingest import event_ingest
    from apps.events.models import Event
    from apps.rbac.models import Role
    from apps.streams.models import Destination
    from auditconsole.processes import processes_stop
    from tests.factories import give_role

    arrivals: dict[str, float] = {}
    counts: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            now = time.time()
            with lock:
                for event in json.loads(body)["events"]:
                    arrivals.setdefault(event["event_id"], now)
                    counts[event["event_id"]] = counts.get(event["event_id"], 0) + 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    admin = get_user_model().objects.create_user("bench-admin", "bench@example.com", "x")
    give_role(admin, Role.Slug.AUDIT_ADMINISTRATOR)
    Destination.objects.create(name="bench", kind="webhook", format="jsonl", owner=admin, secret="bench",
                               config={"url": f"http://127.0.0.1:{server.server_address[1]}/"},
                               batch_max_events=1000, batch_max_bytes=5_000_000, cursor_seq=0)
    worker = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--queue", "streams"], cwd=ROOT,
                              env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # the worker starts and takes its first tick
        started = time.time()
        for first in range(0, EVENTS, BATCH):
            event_ingest([{"event_id": f"sb-{i:07d}", "action": "storage.object.read", "actor": {"id": f"u{i % 50}"},
                           "project": "bench", "metadata": {"i": i}} for i in range(first, min(first + BATCH, EVENTS))])
        ingest_seconds = time.time() - started
        deadline = time.time() + 120
        while time.time() < deadline and len(arrivals) < EVENTS:
            time.sleep(0.5)
    finally:
        processes_stop([worker], timeout=20)
        server.shutdown()
    stored = {e: r.timestamp() for e, r in Event.objects.filter(event_id__startswith="sb-")  # noqa: the bench owns its DB
              .values_list("event_id", "received_at")}
    lags = sorted(arrivals[e] - stored[e] for e in stored if e in arrivals)
    last = max(arrivals.values()) if arrivals else started
    out.write_text(json.dumps({
        "events": EVENTS, "delivered": len(lags), "duplicates": sum(c - 1 for c in counts.values()),
        "ingest_rate": EVENTS / ingest_seconds, "delivery_rate": len(lags) / max(last - started, 1e-6),
        "p50": statistics.median(lags) if lags else 0, "p95": lags[int(len(lags) * 0.95) - 1] if lags else 0,
        "max": lags[-1] if lags else 0,
    }))


if __name__ == "__main__":
    measure(Path(sys.argv[2]))
