"""An administrator creates a threshold rule with the form; events arrive; the real worker
raises the alert, which appears on the alerts page."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from auditconsole.processes import processes_stop
from tests.factories import REALDATA, served_database_url
from tests.personas import PASSWORD
from tests.receivers import worker_jobs_forget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db):
    """`manage.py run_worker` on the test database, as `make run` starts it beside the server."""
    url = served_database_url()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--queue", "alerts"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    processes_stop([process], timeout=20)
    worker_jobs_forget()


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_threshold_rule_made_with_the_form_raises_an_alert_when_events_arrive(page: Page, live_server, worker, shots,
                                                                                 personas_with_passwords):
    assert personas_with_passwords["admin"].username == "ada"  # signs in below as the Audit Administrator
    page.goto(f"{live_server.url}/alerts/rules/new/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New alert rule")).to_be_visible()

    page.get_by_label("Name").fill("Multiple failed sign-ins")
    page.get_by_label("Kind").select_option("threshold")
    page.get_by_label("Severity").select_option("high")
    page.get_by_label("Condition").fill("action:auth.login AND status:failed")
    expect(page.get_by_label("Then (sequence)")).to_be_hidden()
    page.get_by_label("Count").fill("5")
    page.get_by_label("Window").fill("0s")
    page.get_by_label("Group by").fill("actor.email")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("Window: '0s' is an empty window")).to_be_visible()
    page.get_by_label("Window").fill("5m")
    page.screenshot(path=str(shots / "alerts-rule-form.png"), full_page=True)
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("heading", name="Multiple failed sign-ins")).to_be_visible()

    now = timezone.now()
    event_ingest([{"event_id": f"bf-{i}", "action": "auth.login", "status": "failed",
                   "timestamp": (now - timedelta(seconds=60 - 10 * i)).isoformat(), "ip_address": "192.0.2.66",
                   "actor": {"id": "victim", "email": "victim@example.com"},
                   "description": "<img src=x onerror=alert(1)> failed sign-in"} for i in range(6)])

    page.goto(f"{live_server.url}/alerts/")
    link = page.get_by_role("link", name="Multiple failed sign-ins: actor.email victim@example.com")
    for _ in range(30):  # the worker evaluates every two seconds
        if link.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(link).to_be_visible()
    page.screenshot(path=str(shots / "alerts-list.png"), full_page=True)

    link.click()
    expect(page.get_by_role("link", name="Open the 6 events in the viewer")).to_be_visible()
    page.get_by_label("Comment").fill("Looking into it")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Acknowledged by ada")).to_be_visible()
    page.screenshot(path=str(shots / "alerts-detail.png"), full_page=True)

    page.get_by_role("link", name="Open the 6 events in the viewer").click()
    expect(page.locator("body")).to_contain_text("victim@example.com")
    page.screenshot(path=str(shots / "alerts-events.png"), full_page=True)

    page.goto(f"{live_server.url}/alerts/rules/")
    page.screenshot(path=str(shots / "alerts-rules.png"), full_page=True)
    page.get_by_role("link", name="Multiple failed sign-ins").click()
    page.get_by_label("Backtest over the last").fill("1d")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.get_by_role("heading", name="Backtest: 1 firing in 1 group")).to_be_visible()
    page.screenshot(path=str(shots / "alerts-rule-detail.png"), full_page=True)

    page.goto(f"{live_server.url}/alerts/rules/sigma/")
    page.get_by_label("Sigma rule files").set_input_files([
        str(REALDATA / "sigma_rules/rules/cloud/aws/cloudtrail" / name)
        for name in ("aws_cloudtrail_disable_logging.yml", "aws_update_login_profile.yml",
                     "aws_iam_s3browser_loginprofile_creation.yml")])
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="3 rules read")).to_be_visible()
    page.screenshot(path=str(shots / "alerts-sigma-import.png"), full_page=True)
    page.goto(f"{live_server.url}/alerts/silences/")
    page.screenshot(path=str(shots / "alerts-silences.png"), full_page=True)
    page.goto(f"{live_server.url}/alerts/channels/new/")
    page.screenshot(path=str(shots / "alerts-channel-form.png"), full_page=True)
