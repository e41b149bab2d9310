"""In a real browser: the dashboard in the user's time zone, a weekly schedule's day and time chosen
in the form, and a histogram estimated from a sample marked as such. Screenshots to look at."""
from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from apps.rbac.models import UserPreference
from apps.reports.models import Schedule

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

from tests.personas import PASSWORD

SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "auditconsole-screenshots"


def sign_in(page: Page, live_server, path: str, username: str) -> None:
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def recent(transactional_db):
    """A day of events up to an hour ago, a burst of failed sign-ins among them."""
    now = timezone.now().replace(second=0, microsecond=0)
    event_ingest([{"event_id": f"evt_tz_{i}", "timestamp": (now - timedelta(hours=1, minutes=17 * i)).isoformat(),
                   "action": ("auth.login", "storage.object.read", "iam.role.update")[i % 3],
                   "outcome": "failure" if i % 4 == 0 else "success",
                   "actor": {"email": ("alice@example.com", "bob@example.com")[i % 2]}} for i in range(80)])
    return now


def test_a_user_in_tokyo_reads_the_dashboard_in_tokyo_time(page: Page, live_server, personas_with_passwords, recent):
    UserPreference.objects.create(user=personas_with_passwords["analyst"], time_zone="Asia/Tokyo")
    sign_in(page, live_server, "/", "sam")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".zone-label")).to_have_text("Asia/Tokyo")
    newest = (recent - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    expect(page.locator(".recent").get_by_text(f"{newest:%m-%d %H:%M}").first).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard_tokyo.png"), full_page=False)


def test_a_weekly_schedule_is_given_its_day_and_time_in_the_form(page: Page, live_server, personas_with_passwords):
    UserPreference.objects.create(user=personas_with_passwords["compliance"], time_zone="Asia/Tokyo")
    sign_in(page, live_server, "/reports/schedules/new/", "cora")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
    page.get_by_label("Schedule name").fill("Weekly access review")
    page.get_by_label("Runs").select_option("weekly")
    page.get_by_label("Day of the week").select_option(label="Wednesday")
    page.get_by_label("Time of day").fill("07:30")
    page.get_by_label("Email to").fill("ciso@example.com")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "schedule_form.png"), full_page=True)
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("Weekly, Wednesdays at 07:30 (Asia/Tokyo)").first).to_be_visible()
    schedule = Schedule.objects.get()
    tokyo = schedule.next_run_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo.weekday(), tokyo.hour, tokyo.minute) == (2, 7, 30)
    expect(page.get_by_role("cell", name=f"{tokyo:%a %Y-%m-%d %H:%M}")).to_be_visible()
    page.screenshot(path=str(SHOTS / "schedules_list.png"), full_page=False)


def test_an_estimated_histogram_says_so_above_the_bars(page: Page, live_server, personas_with_passwords, recent,
                                                       monkeypatch):
    from apps.search import reads, shape

    monkeypatch.setattr(reads, "COUNT_CAP", 20)  # more matches than the list counts exactly
    monkeypatch.setattr(shape, "SAMPLE_ROWS", 20)  # so one event in 4 is read
    sign_in(page, live_server, "/events/?range=7d&actor=*example.com", "sam")
    badge = page.locator(".histogram .badge.approx")
    expect(badge).to_have_text("Approximate · estimated from 1 event in 4")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "viewer_histogram_approximate.png"), full_page=False)
