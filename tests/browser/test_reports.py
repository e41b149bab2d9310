"""Generating a report from the form in a real browser, with the real worker, and downloading it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from auditconsole.processes import processes_stop
from tests.personas import PASSWORD
from tests.factories import served_database_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    """`manage.py run_worker` on the test database, as `make run` starts it beside the server."""
    settings.REPORTS_ROOT = tmp_path
    url = served_database_url()
    env = {**os.environ, "DATABASE_URL": url, "REPORTS_ROOT": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--queue", "reports"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    processes_stop([process], timeout=20)


def test_a_compliance_officer_generates_a_soc2_report_from_the_form_and_downloads_the_pdf(
        page: Page, live_server, worker, personas_with_passwords):
    event_ingest([
        {"event_id": "b-1", "action": "auth.login", "status": "failed", "timestamp": "2025-03-02T08:00:00Z",
         "actor": {"id": "mallory"}, "description": "<script>window.pwned=1</script>"},
        {"event_id": "b-2", "action": "iam.role.update", "timestamp": "2025-03-03T08:00:00Z", "actor": {"id": "ada"},
         "changes": {"before": {"role": "viewer"}, "after": {"role": "admin"}}},
    ])
    page.goto(f"{live_server.url}/reports/")
    page.get_by_label("Username").fill("cora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New report")).to_be_visible()

    page.get_by_label("Report type").select_option("compliance_audit")
    page.get_by_label("Framework").select_option("soc2_type2")
    page.get_by_label("Period").select_option("custom")
    page.get_by_label("From (UTC)").fill("2025-03-01")
    page.get_by_label("To (UTC)").fill("2025-03-07")
    page.get_by_label("To (UTC)").dispatch_event("change")
    expect(page.locator("#preview")).to_contain_text("All events in scope", timeout=15_000)
    page.get_by_role("button", name="Generate report").click()

    expect(page).to_have_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("heading", name=re.compile("SOC 2 Type II compliance report"))).to_be_visible()
    download_link = page.get_by_role("link", name="PDF")
    expect(download_link).to_be_visible(timeout=90_000)  # the worker makes it; the page follows
    expect(page.get_by_text("CC7.2")).to_be_visible()

    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename.startswith("soc2_type2-report-2025-03-01-to-2025-03-08")
    assert download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    assert page.evaluate("window.pwned") is None
