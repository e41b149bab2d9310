"""Signing in and reading events in a real browser (system Chromium through Playwright), as sam,
the Security Analyst persona: a role assignment, so every page goes through scoping."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from tests.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def events(transactional_db):
    return event_ingest([
        {
            "event_id": "evt_browser_1",
            "timestamp": "2026-03-10T14:30:45.123Z",
            "event_type": "iam.role.update",
            "severity": "high",
            "actor": {"type": "user", "id": "user_12345", "email": "admin@company.com", "ip_address": "203.0.113.45"},
            "resource": {"type": "role", "id": "role_admin", "name": "Administrators"},
            "action": {"operation": "update_role", "status": "success", "method": "api"},
            "changes": {"before": {"members": ["bob"]}, "after": {"members": ["bob", "mallory"]}},
            "description": "<script>window.pwned=1</script><img src=x onerror=alert(1)>",
        },
        {
            "event_id": "evt_browser_2",
            "timestamp": "2026-03-10T14:31:00Z",
            "action": "auth.login",
            "status": "failed",
            "actor": {"id": "mallory", "email": "mallory@evil.example"},
            "ip_address": "198.51.100.7",
        },
    ])


def sign_in(page: Page, live_server, next_path: str = "/events/") -> None:
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_wrong_password_is_refused_with_a_message(page: Page, live_server, personas_with_passwords):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_an_analyst_signs_in_lists_events_and_opens_one(page: Page, live_server, personas_with_passwords, events):
    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(2)
    # Newest first.
    expect(rows.nth(0)).to_contain_text("auth.login")
    expect(rows.nth(0)).to_contain_text("failure")

    rows.nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", name="iam.role.update")).to_be_visible()
    # Attacker-controlled text is shown as text, never run.
    expect(page.locator(".lead")).to_contain_text("<script>window.pwned=1</script>")
    assert page.evaluate("window.pwned") is None
    diff = page.locator("table.diff")
    expect(diff).to_contain_text("mallory")
    expect(page.locator("text=#1").first).to_be_visible()
    expect(page.locator("pre.raw")).to_contain_text('"seq": 1')


def test_signed_out_visitors_are_sent_to_the_sign_in_page(page: Page, live_server, events):
    page.goto(f"{live_server.url}/events/evt_browser_1/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
