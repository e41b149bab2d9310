"""Alert evaluation: its cost to ingest, and the delay from an event's commit to its alert.

With 100 enabled rules (the 10 built-ins, 89 more and a probe rule: thresholds, matches and first-seen rules
over the actions the events carry) and the real worker running (`manage.py run_worker --queue
alerts`, evaluating every 2 seconds), events are ingested in-process (event_ingest, batches of
500) in rounds, alternating with rounds ingested while every rule is disabled (the baseline,
same run, same data shape). Target: ingest with the rules at least 90% of ingest without.

Latency: during the rounds with rules, a probe event every batch matches a probe rule; its
latency is the alert's creation time minus the moment event_ingest returned (its commit).
Target (issue 16): p95 at most 5 s. Peers poll every 1 to 5 minutes.

`ABENCH_EVENTS` (default 20,000) events per mode. See bench/README.md.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.9
ROUNDS = 4
BATCH = 500

ACTIONS = ["auth.login", "auth.logout", "iam.role.update", "iam.user.create", "compute.servers.create",
           "storage.object.read", "config.settings.update", "data.export", "network.security_group.update",
           "billing.invoice.view", "iam.token.create", "compute.servers.delete"]


def run(bench):
    from run import Section, Target

    bench.fresh_database()
    out = bench.out_dir / "alerts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    subprocess.run([bench.python, str(Path(__file__)), "measure", str(out)], cwd=ROOT, env=bench.env, check=True)
    result = json.loads(out.read_text())
    load_after = os.getloadavg()
    if not bench.options.keep_db:
        bench.drop_database()
    latencies = result["latencies"]
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = _percentile(latencies, 95)
    body = "\n".join([
        f"{result['events']:,} events per mode in {ROUNDS} rounds each, batches of {BATCH}, "
        f"{result['rules']} enabled rules, the worker evaluating every 2 s (short run).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| ingest without rules (events/s) | {result['rate_without']:,.0f} |",
        f"| ingest with 100 rules and the worker (events/s) | {result['rate_with']:,.0f} |",
        f"| ratio | {result['rate_with'] / result['rate_without'] * 100:.1f}% (target ≥ {GOAL * 100:.0f}%) |",
        f"| commit → alert stored, p50 (s) | {p50:.2f} |",
        f"| commit → alert stored, p95 (s) | {p95:.2f} (target ≤ 5) |",
        f"| probes / alerts found | {result['probes']} / {len(latencies)} |",
        f"| alerts raised by the 100 rules | {result['alerts']} |",
        f"| load average before / after | {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in load_after)} |",
    ])
    return Section(title="Alert evaluation (bench/alerts.py)", body=body, targets=[
        Target(measure="ingest with 100 rules evaluated", value=result["rate_with"],
               baseline_name="ingest without rules", baseline=result["rate_without"], goal=GOAL),
    ])


def _percentile(values, pct):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


# --- the measurement, in a process of its own with Django set up -----------------------------


def _events(rng, n, start, tag):
    events = []
    for i in range(n):
        action = rng.choice(ACTIONS)
        actor = f"user{rng.randrange(300)}@example.com"
        events.append({
            "event_id": f"{tag}-{i}", "action": action, "timestamp": (start + timedelta(milliseconds=40 * i)).isoformat(),
            "outcome": "failure" if rng.random() < 0.15 else "success",
            "actor": {"id": actor.split("@")[0], "email": actor, "type": "user"},
            "ip_address": f"198.51.{rng.randrange(4)}.{rng.randrange(1, 250)}", "project": rng.choice(["prod", "dev"]),
            "description": f"{actor} did {action}",
        })
    return events


def _rules():
    from apps.alerts.models import AlertRule

    rng = random.Random(16)
    made = []
    for i in range(89):
        action = ACTIONS[i % len(ACTIONS)]
        kind = ("threshold", "match", "first_seen")[i % 3]
        values = dict(name=f"bench rule {i}", kind=kind, severity="medium", enabled=True, group_by=["actor"],
                      condition=f"action:{action} AND outcome:{'failure' if i % 2 else 'success'} AND project:prod")
        if kind == "threshold":
            values.update(threshold=rng.choice([20, 50, 100]), window="5m")
        elif kind == "first_seen":
            values.update(distinct_field="ip", learning_period="1d")
        else:
            values["condition"] += f" AND actor.email:user{rng.randrange(300)}@example.com"
        made.append(AlertRule(**values))
    AlertRule.objects.bulk_create(made)
    AlertRule.objects.create(name="bench probe", kind="match", severity="low", condition="action:bench.probe",
                             group_by=["event_id"])


def measure(out_path: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditconsole.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from apps.alerts.models import Alert, AlertRule
    from apps.events.ingest import event_ingest
    from apps.events.models import ChainHead
    from auditconsole.processes import processes_stop

    _rules()
    total = int(os.environ.get("ABENCH_EVENTS", "20000"))
    per_round = max(BATCH, total // ROUNDS // BATCH * BATCH)
    rng = random.Random(7)
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    worker = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--queue", "alerts"], cwd=ROOT,
                              env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timings = {"with": 0.0, "without": 0.0}
    probes: dict[str, float] = {}
    try:
        time.sleep(3)
        for round_number in range(ROUNDS):
            for mode in ("without", "with") if round_number % 2 == 0 else ("with", "without"):
                AlertRule.objects.update(enabled=(mode == "with"))
                if mode == "with":
                    # The rules start at the head: they evaluate this round's events, not the last one's.
                    head = ChainHead.objects.get(pk=1).seq
                    AlertRule.objects.update(last_seq=head)
                    time.sleep(2.5)
                events = _events(rng, per_round, start, f"{mode}-{round_number}")
                start += timedelta(milliseconds=40 * per_round)
                begun = time.perf_counter()
                for offset in range(0, per_round, BATCH):
                    batch = events[offset:offset + BATCH]
                    if mode == "with":
                        probe_id = f"probe-{round_number}-{offset}"
                        batch = batch + [{"event_id": probe_id, "action": "bench.probe",
                                          "timestamp": datetime.now(timezone.utc).isoformat()}]
                    event_ingest(batch)
                    if mode == "with":
                        probes[probe_id] = time.time()
                timings[mode] += time.perf_counter() - begun
                if mode == "with":
                    # Let the worker finish this round before the rules are switched off.
                    deadline = time.monotonic() + 60
                    head = ChainHead.objects.get(pk=1).seq
                    while time.monotonic() < deadline and AlertRule.objects.filter(enabled=True, last_seq__lt=head).exists():
                        time.sleep(0.5)
    finally:
        processes_stop([worker], timeout=20)
    latencies = []
    for alert in Alert.objects.filter(rule__name="bench probe"):
        sent = probes.get(alert.group.get("event_id"))
        if sent is not None:
            latencies.append(alert.created_at.timestamp() - sent)
    n = per_round * ROUNDS
    Path(out_path).write_text(json.dumps({
        "events": n, "rules": AlertRule.objects.count(), "rate_without": n / timings["without"],
        "rate_with": (n + len(probes)) / timings["with"], "latencies": latencies, "probes": len(probes),
        "alerts": Alert.objects.exclude(rule__name="bench probe").count(),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2])
