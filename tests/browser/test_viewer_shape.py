"""The histogram and the facets above the viewer's results, in a real browser: a facet click and a
drag across the bars narrow the search, and the URL says so."""
from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

from tests.personas import PASSWORD
# Screenshots to look at (not kept in the repository): SCREENSHOT_DIR, else the system's temp dir.
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir()) / "auditconsole-screenshots"
DAY = datetime(2026, 3, 10, tzinfo=timezone.utc)


@pytest.fixture
def analyst(transactional_db, personas_with_passwords):
    """sam, the Security Analyst persona (a role, so the page goes through scoping)."""
    return personas_with_passwords["analyst"]


@pytest.fixture
def shape_log(transactional_db):
    """A day: routine work all day, and a burst of failed sign-ins by mallory in the afternoon."""
    events = []
    for i in range(48):
        events.append({"event_id": f"evt_day_{i}", "timestamp": (DAY + timedelta(minutes=30 * i)).isoformat(),
                       "action": ("storage.object.read", "compute.servers.restart", "auth.login")[i % 3],
                       "outcome": "denied" if i % 11 == 0 else "success", "project": ("prod", "dev")[i % 2],
                       "actor": {"email": ("alice@example.com", "bob@example.com")[i % 2]}, "ip_address": f"10.0.0.{i % 5}"})
    for i in range(30):
        events.append({"event_id": f"evt_brute_{i}", "timestamp": (DAY + timedelta(hours=15, seconds=20 * i)).isoformat(),
                       "action": "auth.login", "outcome": "failure", "auth_method": "password",
                       "actor": {"email": "mallory@evil.example"}, "ip_address": "198.51.100.7"})
    event_ingest(events)


def sign_in(page: Page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()


def total(page: Page) -> int:
    return int(page.locator("#results p.count strong").inner_text().replace(",", "").rstrip("+"))


def test_the_viewer_shows_the_histogram_and_facets_of_the_search(page: Page, live_server, analyst, shape_log):
    sign_in(page, live_server, "/events/?start_date=2026-03-10&end_date=2026-03-10")
    expect(page.locator("svg.histogram-chart a.hbar")).to_have_count(24)
    expect(page.locator("svg.histogram-chart rect.o-failure")).to_have_count(1)  # the burst: 15:00-15:10
    actors = page.locator(".facet", has=page.get_by_role("heading", name="Actor"))
    expect(actors.locator("li").first).to_contain_text("mallory@evil.example")
    expect(actors.locator("li").first.locator(".facet-count")).to_have_text("30")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "viewer_histogram_facets.png"), full_page=False)


def test_a_facet_click_narrows_the_search_and_not_excludes(page: Page, live_server, analyst, shape_log):
    sign_in(page, live_server, "/events/?start_date=2026-03-10&end_date=2026-03-10")
    assert total(page) == 78
    actors = page.locator(".facet", has=page.get_by_role("heading", name="Actor"))
    actors.get_by_role("link", name="mallory@evil.example", exact=True).click()
    expect(page).to_have_url(re.compile(r"q=.*mallory"))
    expect(page.get_by_label("Query")).to_have_value(re.compile(r'actor\.email:"mallory@evil\.example"'))
    assert total(page) == 30
    expect(page.locator("table.events tbody tr")).to_have_count(30)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "viewer_facet_click.png"), full_page=False)
    outcome = page.locator(".facet", has=page.get_by_role("heading", name="Outcome"))
    expect(outcome.locator("li")).to_have_count(1)
    outcome.get_by_role("link", name="Exclude failure").click()
    expect(page).to_have_url(re.compile(r"NOT"))
    expect(page.locator("#results p.count strong")).to_have_text("0")


def test_dragging_across_the_histogram_narrows_the_time_range_and_the_url(page: Page, live_server, analyst, shape_log):
    sign_in(page, live_server, "/events/?start_date=2026-03-10&end_date=2026-03-10")
    page.evaluate("window.sameDocument = true")
    chart = page.locator("svg.histogram-chart")
    box = chart.bounding_box()
    # From 14:00 to 17:00: bars 14, 15 and 16 of 24.
    page.mouse.move(box["x"] + box["width"] * 14 / 24 + 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 15.5 / 24, box["y"] + box["height"] / 2, steps=5)
    page.mouse.move(box["x"] + box["width"] * 17 / 24 - 2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"start_date=2026-03-10T14"))
    params = parse_qs(urlsplit(page.url).query)
    assert params["start_date"][0].startswith("2026-03-10T14:0")
    assert params["end_date"][0].startswith("2026-03-10T16:5")
    assert "range" not in params
    # 14:00-17:00: six of the day's half-hourly events and the whole burst.
    expect(page.locator("#results p.count strong")).to_have_text("36")
    expect(page.get_by_label("From (UTC)")).to_have_value(params["start_date"][0])
    assert page.evaluate("window.sameDocument") is True
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "viewer_histogram_drag.png"), full_page=False)


def test_a_skip_link_and_j_k_reach_the_results_from_the_keyboard(page: Page, live_server, analyst, shape_log):
    sign_in(page, live_server, "/events/?start_date=2026-03-10&end_date=2026-03-10")
    page.locator("body").click(position={"x": 5, "y": 300})
    for presses in range(1, 15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Skip to the results":
            break
    assert presses < 10, "the skip link comes within the first few Tabs"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "results-table"
    page.keyboard.press("j")
    expect(page.locator("tr.event-row.is-selected")).to_have_count(1)
    first = page.locator("tr.event-row").nth(0)
    expect(first).to_have_class(re.compile("is-selected"))
    page.keyboard.press("j")
    expect(page.locator("tr.event-row").nth(1)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile("is-selected"))
    # Enter on the selected row opens it in the side panel.
    page.keyboard.press("Enter")
    expect(page.locator("#panel [data-event]")).to_have_count(1)


def test_choosing_a_range_clears_from_and_to_so_that_it_applies(page: Page, live_server, analyst, shape_log):
    sign_in(page, live_server, "/events/?start_date=2026-03-10T14:00:00Z&end_date=2026-03-10T16:59:59Z")
    expect(page.locator(".range-note")).to_be_visible()
    page.get_by_label("Time range").select_option("all")
    expect(page).to_have_url(re.compile(r"/events/\?range=all$"))
    expect(page.get_by_label("From (UTC)")).to_have_value("")
    expect(page.locator("#results p.count strong")).to_have_text("78")


def test_an_events_hash_and_id_are_copied_with_one_click(page: Page, live_server, analyst, shape_log):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server, "/events/")
    page.goto(f"{live_server.url}/events/evt_brute_0/")
    page.get_by_role("button", name="Copy the hash").click()
    expect(page.get_by_role("button", name="Copy the hash")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"(sha256:)?[0-9a-f]{64}", copied)
    page.get_by_role("button", name="Copy the event id").click()
    assert page.evaluate("navigator.clipboard.readText()") == "evt_brute_0"
