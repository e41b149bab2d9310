"""An Audit Administrator creates a webhook destination through its form in a real browser,
sends a test event to a local receiver, and watches the status page."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from apps.rbac.models import Role
from apps.streams.delivery import streams_deliver_due
from tests.factories import give_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-9"
SCREENS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screens"))


@pytest.fixture
def receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            received.extend(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["events"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_an_administrator_creates_a_webhook_destination_from_its_form(page: Page, live_server, receiver):
    url, received = receiver
    admin = get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    give_role(admin, Role.Slug.AUDIT_ADMINISTRATOR)
    event_ingest([{"event_id": f"b-{i}", "action": "auth.login", "timestamp": f"2026-03-01T10:0{i}:00Z",
                   "actor": {"id": "mallory"}, "tags": ["soc"], "description": "<script>window.pwned=1</script>"}
                  for i in range(4)])
    page.goto(f"{live_server.url}/streams/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Streams", exact=True)).to_be_visible()

    page.get_by_role("link", name="New destination").click()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "streams_kinds.png"), full_page=True)
    page.get_by_role("link", name="Webhook").click()
    page.get_by_label("Name").fill("SOC webhook")
    page.get_by_label("URL").fill(url)
    page.get_by_label("Signing secret").fill("whsec-browser")
    page.get_by_label("Filter").fill("tags:soc")
    page.get_by_label("Start with").select_option("beginning")
    page.screenshot(path=str(SCREENS / "streams_form.png"), full_page=True)
    page.get_by_role("button", name="Save destination").click()

    expect(page.get_by_role("heading", name="SOC webhook")).to_be_visible()
    expect(page.get_by_text("Destination “SOC webhook” saved.")).to_be_visible()
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Test event delivered")).to_be_visible()
    assert received and received[0]["action"] == "stream.test"

    streams_deliver_due(budget_seconds=2)  # what the worker does every few seconds
    page.reload()
    expect(page.get_by_text("acknowledged through seq")).to_be_visible()
    page.get_by_role("link", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("b-3")
    page.screenshot(path=str(SCREENS / "streams_detail.png"), full_page=True)
    assert {e["event_id"] for e in received[1:]} == {"b-0", "b-1", "b-2", "b-3"}
    page.goto(f"{live_server.url}/streams/")
    expect(page.get_by_role("link", name="SOC webhook")).to_be_visible()
    page.screenshot(path=str(SCREENS / "streams_list.png"), full_page=True)
    assert page.evaluate("window.pwned") is None
