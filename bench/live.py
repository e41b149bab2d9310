"""Live view lag: from the ingest API's 202 to the event on screen, in Chromium (bench/run.py module).

A uvicorn server (2 workers, as `make run`) on the scratch database; N signed-in browser pages
(one browser, one context each) on /events/live/; events are sent one at a time through the
API, and each page records, with a MutationObserver, the wall-clock time its row appeared.
Lag = appearance time - time the 202 arrived (same machine, same clock). Target: p95 < 1 s.
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEWERS = [int(x) for x in os.environ.get("LBENCH_VIEWERS", "1,10").split(",") if x.strip()]
EVENTS = int(os.environ.get("LBENCH_EVENTS", "40"))
PASSWORD = "bench-live-password-1"

OBSERVE = """() => { window.__seen = {}; new MutationObserver(ms => { for (const m of ms) for (const n of m.addedNodes)
  if (n.dataset && n.dataset.seq) window.__seen[n.dataset.seq] = Date.now(); })
  .observe(document.getElementById('live-rows'), {childList: true}); }"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(bench):
    import httpx
    from playwright.sync_api import sync_playwright
    from run import Section

    url = bench.fresh_database()
    env = {**bench.env, "DATABASE_URL": url}
    subprocess.run([bench.python, "manage.py", "shell", "-c",
                    "from django.contrib.auth import get_user_model as g; "
                    f"g().objects.create_superuser('bench-live', 'bench-live@example.com', '{PASSWORD}')"],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    token = bench.issue_ingest_token()
    port = _port()
    server = subprocess.Popen([bench.python, "-m", "uvicorn", "auditconsole.asgi:application", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with sync_playwright() as p, httpx.Client(headers={"Authorization": f"Bearer {token}"}) as api:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            for viewers in VIEWERS:
                pages = []
                for _ in range(viewers):
                    page = browser.new_context().new_page()
                    page.goto(base + "/accounts/login/")
                    page.fill("#id_username", "bench-live")
                    page.fill("#id_password", PASSWORD)
                    page.click("button[type=submit]")
                    page.goto(base + "/events/live/?q=action:bench.live.*")
                    page.wait_for_selector("#live-state[data-state=live]")
                    page.evaluate(OBSERVE)
                    pages.append(page)
                sent = {}
                for i in range(EVENTS):
                    response = api.post(base + "/api/v1/events", json={"events": [
                        {"event_id": f"evt_bench_live_{viewers}_{i}", "action": "bench.live.tick", "actor": {"id": "bench"}}]})
                    acked = time.time() * 1000
                    assert response.status_code == 202, response.text
                    sent[str(response.json()["events"][0]["seq"])] = acked
                    time.sleep(0.25)
                time.sleep(2)
                lags = []
                for page in pages:
                    seen = page.evaluate("window.__seen")
                    lags.extend(seen.get(seq, acked + 10_000) - at for seq, at in sent.items())
                lags.sort()
                results[viewers] = {"p50": statistics.median(lags), "p95": lags[int(len(lags) * 0.95) - 1],
                                    "missing": sum(1 for page in pages for seq in sent if seq not in page.evaluate("window.__seen"))}
                bench.log(f"live: {viewers} viewers: {results[viewers]}")
                for page in pages:
                    page.context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        bench.drop_database()
    lines = [f"Lag from the ingest API's 202 to the row on screen (MutationObserver in each page), {EVENTS} events "
             "sent one per 250 ms, uvicorn with 2 workers, one LISTEN connection per viewer. Target: p95 under 1 s.", "",
             "| viewers | p50 | p95 | missing |", "|---|---|---|---|"]
    lines += [f"| {v} | {r['p50']:.0f} ms | {r['p95']:.0f} ms | {r['missing']} |" for v, r in results.items()]
    return Section(title="Live view lag (bench/live.py)", body="\n".join(lines))
