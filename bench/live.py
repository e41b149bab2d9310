"""Live view lag: from the ingest API's 202 to the event on screen, in Chromium (bench/run.py module).

A uvicorn server (2 workers, as `make run`) on the scratch database; N signed-in browser pages
(one browser, one context each) on /events/live/; events are sent one at a time through the
API, and each page records, with a MutationObserver, the wall-clock time its row appeared.
Lag = appearance time - time the 202 arrived (same machine, same clock). Target: p95 < 1 s.

Then the same round with N plain SSE clients (httpx, in one asyncio loop, signed in with the
pages' session) instead of browser pages: the lag to the event's message arriving, which is
the server's share. On a small machine, N Chromium pages rendering every event weigh on the
browser lag more than the server does.

While the events are sent, the connections the server holds on the scratch database are
counted in pg_stat_activity (every client backend but the bench's own), by application name:
the live views' listener and readers (apps.search.live), and Django's request connections.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
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
QUERY = "action:bench.live.*"
MISSING_MS = 10_000   # an event never shown counts as this late in the percentiles (and as missing)

OBSERVE = """() => { window.__seen = {}; new MutationObserver(ms => { for (const m of ms) for (const n of m.addedNodes)
  if (n.dataset && n.dataset.seq) window.__seen[n.dataset.seq] = Date.now(); })
  .observe(document.getElementById('live-rows'), {childList: true}); }"""

HELD = """SELECT coalesce(nullif(application_name, ''), 'django'), count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lags(sent: dict[str, float], seen_by_viewer: list[dict]) -> dict:
    lags = sorted(seen.get(seq, at + MISSING_MS) - at for seen in seen_by_viewer for seq, at in sent.items())
    return {"p50": statistics.median(lags), "p95": lags[int(len(lags) * 0.95) - 1],
            "missing": sum(1 for seen in seen_by_viewer for seq in sent if seq not in seen)}


class Sender:
    """Sends the round's events one by one through the API, counting the server's connections."""

    def __init__(self, api, base: str, counter) -> None:
        self.api, self.base, self.counter = api, base, counter
        self.held: dict[str, int] = {}     # the most connections of each kind seen at once

    def __call__(self, label: str) -> dict[str, float]:
        sent = {}
        for i in range(EVENTS):
            response = self.api.post(self.base + "/api/v1/events", json={"events": [
                {"event_id": f"evt_bench_live_{label}_{i}", "action": "bench.live.tick", "actor": {"id": "bench"}}]})
            acked = time.time() * 1000
            assert response.status_code == 202, response.text
            sent[str(response.json()["events"][0]["seq"])] = acked
            counts = dict(self.counter.execute(HELD).fetchall())
            self.held["total"] = max(self.held.get("total", 0), sum(counts.values()))
            for name, count in counts.items():
                self.held[name] = max(self.held.get(name, 0), count)
            time.sleep(0.25)
        time.sleep(2)
        return sent


def _sse_round(base: str, cookies: dict, viewers: int, send: Sender) -> dict:
    """`viewers` SSE clients on the live stream while the events are sent: the lag to each message."""
    import httpx

    async def main():
        seen: list[dict[str, float]] = [{} for _ in range(viewers)]
        ready = [asyncio.Event() for _ in range(viewers)]

        async def read(client, i):
            async with client.stream("GET", "/events/live/stream/", params={"q": QUERY}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        data = json.loads(line.removeprefix("data: "))
                        if "head" in data:
                            ready[i].set()
                        elif "seq" in data:
                            seen[i][str(data["seq"])] = time.time() * 1000

        async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=None,
                                     limits=httpx.Limits(max_connections=viewers + 5)) as client:
            readers = [asyncio.create_task(read(client, i)) for i in range(viewers)]
            await asyncio.gather(*(r.wait() for r in ready))
            sent = await asyncio.to_thread(send, f"sse_{viewers}")
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        return _lags(sent, seen)

    # Playwright's sync API runs an event loop in this thread; this one gets a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def run(bench):
    import httpx
    import psycopg
    from playwright.sync_api import sync_playwright
    from run import Section

    from auditconsole.processes import processes_stop

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
        with sync_playwright() as p, httpx.Client(headers={"Authorization": f"Bearer {token}"}) as api, \
                psycopg.connect(url, autocommit=True) as counter:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            for viewers in VIEWERS:
                send = Sender(api, base, counter)
                pages = []
                for _ in range(viewers):
                    page = browser.new_context().new_page()
                    page.goto(base + "/accounts/login/")
                    page.fill("#id_username", "bench-live")
                    page.fill("#id_password", PASSWORD)
                    page.click("button[type=submit]")
                    page.goto(base + f"/events/live/?q={QUERY}")
                    page.wait_for_selector("#live-state[data-state=live]")
                    page.evaluate(OBSERVE)
                    pages.append(page)
                sent = send(f"browser_{viewers}")
                result = {"browser": _lags(sent, [page.evaluate("window.__seen") for page in pages])}
                cookies = {c["name"]: c["value"] for c in pages[0].context.cookies()}
                for page in pages:
                    page.context.close()
                result["sse"] = _sse_round(base, cookies, viewers, send)
                result["held"] = send.held
                results[viewers] = result
                bench.log(f"live: {viewers} viewers: {result}")
            browser.close()
    finally:
        processes_stop([server], timeout=10)
        bench.drop_database()
    lines = [f"Lag from the ingest API's 202 to the event at the viewer, {EVENTS} events sent one per 250 ms, uvicorn "
             "with 2 workers. Browser: the row on screen (MutationObserver in each of N Chromium pages, on this "
             "machine's cores alongside the server). SSE client: the event's message arriving at N httpx streams "
             "in one process (the server's share). Missing: (viewer, event) pairs never shown. "
             "Target: p95 under 1 s, every viewer gets every event.", "",
             "Each server process holds one LISTEN connection and a pool of at most 4 read connections for all "
             "its live views, and a stream closes its request's Django connection when it starts. Connections "
             "held: the most the server held on the database at once (pg_stat_activity, sampled after each event "
             "sent, over both rounds): in total, and of them the live views' listeners and readers (2 processes) "
             "and Django's (the ingest calls', and the page requests' that are not closed yet).", "",
             "| viewers | browser p50 | browser p95 | missing | SSE client p50 | SSE client p95 | missing "
             "| connections held | live listeners | live readers | Django |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v, r in results.items():
        b, s, held = r["browser"], r["sse"], r["held"]
        lines.append(f"| {v} | {b['p50']:.0f} ms | {b['p95']:.0f} ms | {b['missing']} | {s['p50']:.0f} ms | "
                     f"{s['p95']:.0f} ms | {s['missing']} | {held.get('total', 0)} | "
                     f"{held.get('audit live listener', 0)} | {held.get('audit live reader', 0)} | "
                     f"{held.get('django', 0)} |")
    return Section(title="Live view lag (bench/live.py)", body="\n".join(lines))
