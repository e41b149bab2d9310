"""The External Auditor's landing page in a real browser: their link opens the dashboard on their
audit window, under a readable name, without a live view for a period that is over."""
from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.utils import timezone as django_timezone
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from apps.rbac.audit_trail import Actor
from apps.rbac.auditor_links import auditor_link_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "auditconsole-screenshots"
WINDOW = (datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2026, 12, 5, tzinfo=timezone.utc))


@pytest.fixture
def audited(transactional_db):
    """Sign-ins and changes over the audit window (12-01 to 12-04), and some after it."""
    events = []
    for i in range(60):
        moment = WINDOW[0] + timedelta(hours=1.5 * i)
        events.append({"event_id": f"evt_window_{i}", "timestamp": moment.isoformat(),
                       "action": ("auth.login", "iam.role.update", "storage.bucket.delete")[i % 3],
                       "outcome": "failure" if i % 7 == 0 else "success", "project": "payments",
                       "actor": {"email": ("alice@example.com", "bob@example.com", "carol@example.com")[i % 3]}})
    events.append({"event_id": "evt_after", "timestamp": "2026-12-06T10:00:00Z", "action": "auth.login",
                   "actor": {"email": "alice@example.com"}})
    event_ingest(events)


@pytest.fixture
def link(transactional_db, people):
    admin = people["admin"]  # ada, the Audit Administrator, issues the link
    return auditor_link_create(actor=Actor.from_principal(admin), label="KPMG SOC 2", email="lead@kpmg.example",
                               window_start=WINDOW[0], window_end=WINDOW[1],
                               expires_at=django_timezone.now() + timedelta(days=7))


def test_the_auditor_lands_on_the_dashboard_of_their_audit_window(page: Page, live_server, audited, link):
    page.goto(f"{live_server.url}/auditor-access/{link.secret}/")
    page.get_by_role("button", name="Continue as external auditor").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".dash-head")).to_contain_text("Audit window 2026-12-01 00:00 to 2026-12-05 00:00 UTC")
    # Every event of the window, none after it.
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "60")
    expect(page.get_by_role("link", name="Live view")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Live")).to_have_count(0)
    expect(page.locator("summary.who")).to_have_text("KPMG SOC 2")
    expect(page.locator(".notice")).to_contain_text("audit window, which is over")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "auditor_landing.png"), full_page=False)
    # A count opens the viewer over the same window, with the same number.
    page.locator("a.signal[data-signal='failed_signins']").click()
    expect(page).to_have_url(re.compile(r"start_date=2026-12-01T00%3A00%3A00Z&end_date=2026-12-04T23%3A59%3A59Z"))
    expect(page.locator("#results p.count strong")).to_have_text("3")
