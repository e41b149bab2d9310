"""Exporting the viewer's current search from a real browser: a small export downloads at once,
a large one is written by the real worker while the page follows it, then downloads."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from auditconsole.processes import processes_stop
from tests.personas import PASSWORD
from tests.factories import served_database_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screens"))


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    """`manage.py run_worker` for the exports queue on the test database."""
    settings.EXPORTS_ROOT = tmp_path
    url = served_database_url()
    env = {**os.environ, "DATABASE_URL": url, "EXPORTS_ROOT": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--queue", "exports"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    processes_stop([process], timeout=20)


@pytest.fixture
def analyst_page(page: Page, live_server, personas_with_passwords):
    event_ingest([
        {"event_id": f"e-{i}", "action": "auth.login" if i % 2 else "storage.object.read",
         "timestamp": f"2026-03-01T10:{i:02d}:00Z", "project": "acme", "actor": {"id": f"user-{i}"},
         "description": "a|b=c\r\n<script>window.pwned=1</script>"}
        for i in range(12)
    ])
    page.goto(f"{live_server.url}/events/?q=project:acme")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#results")).to_contain_text("12")
    return page


def test_an_analyst_downloads_the_current_search_as_cef_from_the_viewer(analyst_page: Page):
    page = analyst_page
    page.get_by_role("link", name="Export", exact=True).click()

    expect(page.get_by_role("heading", name="Export events")).to_be_visible()
    expect(page.get_by_text("12 matching events")).to_be_visible()
    page.get_by_label("Format").select_option("cef")
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "export_form.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("button", name="Export", exact=True).click()

    download = info.value
    assert download.suggested_filename.endswith("_projectacme.cef")
    lines = Path(download.path()).read_text().splitlines()
    assert len(lines) == 12 and all(line.startswith("CEF:0|AuditConsole|") for line in lines)
    assert "msg=a|b\\=c\\r\\n<script>" in lines[0]
    assert page.evaluate("window.pwned") is None


def test_a_large_export_is_written_by_the_worker_while_the_page_follows_it(analyst_page: Page, worker, settings):
    settings.EXPORTS_DIRECT_MAX = 5
    page = analyst_page
    page.get_by_role("link", name="Export", exact=True).click()
    page.get_by_label("Format").select_option("parquet")
    page.get_by_role("button", name="Export", exact=True).click()

    expect(page).to_have_url(re.compile(r"/exports/[0-9a-f-]{36}/$"))
    link = page.locator("#export-download")
    expect(link).to_be_visible(timeout=60_000)  # the worker writes it; the page polls
    page.screenshot(path=str(SCREENS / "export_job.png"), full_page=True)
    with page.expect_download() as info:
        link.click()

    table = pq.read_table(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert table.num_rows == 12
