"""The retention page in a real browser: the policy form (refusing bad input, naming the field),
and "Run now" carried out by the real worker, with the status per tier updated after it."""
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
from apps.retention.models import RetentionRun
from auditconsole.processes import processes_stop
from tests.personas import PASSWORD
from tests.factories import served_database_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))


@pytest.fixture
def retention_worker(transactional_db, settings, tmp_path):
    """`manage.py run_worker` on the test database, for the retention queue."""
    settings.RETENTION_ROOT = tmp_path / "archive"
    settings.RETENTION_COLD_URL = (tmp_path / "cold").as_uri()
    url = served_database_url()
    env = {**os.environ, "DATABASE_URL": url, "RETENTION_ROOT": str(tmp_path / "archive"),
           "RETENTION_COLD_URL": (tmp_path / "cold").as_uri(), "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--queue", "retention"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    processes_stop([process], timeout=20)


def test_an_administrator_sets_a_policy_and_runs_retention_now(page: Page, live_server, retention_worker,
                                                                personas_with_passwords):
    old = (timezone.now() - timedelta(days=20)).isoformat()
    event_ingest([{"event_id": f"view-{n}", "action": "resource.view", "timestamp": old, "actor": {"id": "bob"},
                   "description": "<script>window.pwned=1</script>"} for n in range(5)]
                 + [{"event_id": "login-1", "action": "auth.login", "actor": {"id": "bob"}}])

    page.goto(f"{live_server.url}/retention/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Retention", exact=True)).to_be_visible()

    page.get_by_role("link", name="New policy").click()
    page.get_by_label("Name").fill("Resource views")
    page.get_by_label("Event types").fill("resource.view")
    page.get_by_label("Hot days").fill("30")
    page.get_by_label("Warm days").fill("7")
    page.get_by_label("Cold months").fill("0")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Warm days: is shorter than hot_days")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "retention_policy_form.png"), full_page=True)

    page.get_by_label("Hot days").fill("7")
    page.get_by_label("Warm days").fill("90")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Retention policy “Resource views” saved.")).to_be_visible()
    row = page.locator("tr", has_text="Resource views")
    expect(row).to_contain_text("resource.view")
    expect(row.locator("td").nth(5)).to_contain_text("5")  # the preview: five views go warm next run

    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_text("A retention run was queued")).to_be_visible()
    for _ in range(90):  # the worker picks the job up, archives, then records the run
        if RetentionRun.objects.filter(state=RetentionRun.State.DONE).exists():
            break
        page.wait_for_timeout(1000)
    page.reload()
    warm = page.locator(".tier-warm")
    expect(warm).to_contain_text("5")
    expect(page.locator(".runline")).to_contain_text("Done")
    expect(page.locator("table", has_text="Seqs")).to_contain_text("Warm")
    page.screenshot(path=str(SCREENSHOTS / "retention_status.png"), full_page=True)

    page.get_by_role("link", name="Search with archive").click()
    page.get_by_label("Query").fill("actor:bob")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="6 events")).to_be_visible()
    expect(page.locator("td", has_text="archived")).to_have_count(5)
    page.screenshot(path=str(SCREENSHOTS / "retention_archive_search.png"), full_page=True)
    assert page.evaluate("window.pwned") is None


def test_the_events_page_includes_the_archive_when_asked_marking_archived_rows(page: Page, live_server, settings,
                                                                                tmp_path, personas_with_passwords):
    from apps.retention.models import RetentionPolicy
    from apps.retention.runs import retention_run

    settings.RETENTION_ROOT = tmp_path / "archive"
    old = (timezone.now() - timedelta(days=40)).isoformat()
    event_ingest([{"event_id": f"old-{n}", "action": "resource.delete", "timestamp": old, "actor": {"id": "bob"},
                   "resource": {"type": "vps", "id": f"vm-{n}"}, "description": "<b>deleted</b> a server"}
                  for n in range(3)]
                 + [{"event_id": "new-1", "action": "resource.delete", "actor": {"id": "bob"}}])
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=30, warm_days=3650, cold_months=0)
    assert retention_run().archived_events == 3

    page.goto(f"{live_server.url}/events/?range=all&q=actor:bob")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".event-row")).to_have_count(1)  # the hot table alone
    page.get_by_label("Include archive").check()
    expect(page.locator(".event-row")).to_have_count(4)
    expect(page.locator(".event-row.archived .badge-archived")).to_have_count(3)
    assert "archive=1" in page.url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "events_include_archive.png"), full_page=True)
    page.get_by_label("Include archive").uncheck()
    expect(page.locator(".event-row")).to_have_count(1)
