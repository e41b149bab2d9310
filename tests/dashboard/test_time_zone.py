"""The user's time zone (their preference, kept in apps.rbac) applies to the dashboard: a user in
Asia/Tokyo reads the dashboard's times in Tokyo time, a user who chose none reads UTC."""
from __future__ import annotations

from datetime import timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.events.ingest import event_ingest
from apps.rbac.models import UserPreference

pytestmark = pytest.mark.django_db


@pytest.fixture
def recent():
    """One event three hours ago, on a whole minute (the dashboard shows minutes)."""
    moment = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    event_ingest([{"event_id": "evt_tz_1", "timestamp": moment.isoformat(), "action": "vps.scale.up",
                   "actor": {"type": "user", "id": "usr_tz", "email": "tz@example.com"}}])
    return moment


def test_a_user_in_tokyo_sees_the_dashboards_times_in_tokyo_time(recent, people, browser_for):
    UserPreference.objects.create(user=people["analyst"], time_zone="Asia/Tokyo")
    page = browser_for("analyst").get("/").content.decode()
    tokyo = recent.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"tz@example.com · {tokyo:%m-%d %H:%M}" in page  # Recent activity
    assert "From (Asia/Tokyo)" in page  # the activity table's hours
    assert f"{tokyo.replace(minute=0):%Y-%m-%d %H:%M}</td><td>1</td>" in page  # the event's hour, in Tokyo
    assert f"{recent.replace(minute=0):%d %b %H:%M}: 1 events" not in page  # the chart's hours are Tokyo's too
    assert f"{tokyo.replace(minute=0):%d %b %H:%M}: 1 events" in page
    assert '<span class="zone-label">Asia/Tokyo</span>' in page


def test_a_user_without_a_preference_sees_the_dashboard_in_utc(recent, browser_for):
    page = browser_for("analyst").get("/").content.decode()
    utc = recent.astimezone(dt_timezone.utc)
    assert f"tz@example.com · {utc:%m-%d %H:%M}" in page
    assert "From (UTC)" in page and '<span class="zone-label">UTC</span>' in page


def test_daily_bars_are_named_by_their_utc_day_whatever_the_zone(recent, people, browser_for):
    UserPreference.objects.create(user=people["analyst"], time_zone="America/Los_Angeles")
    page = browser_for("analyst").get("/", {"range": "30d"}).content.decode()
    assert "Day (UTC)" in page
    assert f"{recent.astimezone(dt_timezone.utc):%Y-%m-%d}</td><td>1</td>" in page


def test_the_viewer_and_the_dashboard_read_the_same_preference(recent, people, browser_for):
    client = browser_for("analyst")
    saved = client.post("/events/preferences/", {"time_zone": "Asia/Tokyo", "columns": ["action"]})
    assert saved.status_code == 302
    assert UserPreference.objects.get(user=people["analyst"]).time_zone == "Asia/Tokyo"
    assert "Asia/Tokyo" in client.get("/events/").content.decode()
    assert '<span class="zone-label">Asia/Tokyo</span>' in client.get("/").content.decode()
