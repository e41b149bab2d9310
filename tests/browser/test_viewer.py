"""The event viewer in a real browser: filtering without a reload, the URL as state, the panel;
signed in as sam, the Security Analyst persona (a role, so the pages go through scoping)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.events.chain import checkpoint_create
from apps.events.ingest import event_ingest
from tests.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def viewer_log(transactional_db):
    event_ingest([
        {"event_id": "evt_login_fail", "timestamp": "2026-03-10T14:00:00Z", "action": "auth.login", "status": "failed",
         "actor": {"email": "mallory@evil.example"}, "auth_method": "password", "ip_address": "198.51.100.7"},
        {"event_id": "evt_login_ok", "timestamp": "2026-03-10T14:05:00Z", "action": "auth.login", "status": "success",
         "actor": {"email": "alice@example.com"}, "auth_method": "saml", "ip_address": "10.1.2.3"},
        {"event_id": "evt_role", "timestamp": "2026-03-10T14:10:00Z", "action": "iam.role.update", "severity": "high",
         "actor": {"email": "admin@company.com"}, "resource": {"type": "role", "id": "role_admin"},
         "trace_id": "trace-42", "description": "<img src=x onerror=\"window.pwned=1\">granted admin",
         "changes": {"before": {"members": ["bob"]}, "after": {"members": ["bob", "mallory"]}}},
    ])
    checkpoint_create()


def sign_in(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/events/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()


def rows(page: Page):
    return page.locator("table.events tbody tr")


def test_the_viewer_filters_without_a_reload_and_keeps_the_state_in_the_url(page: Page, live_server,
        personas_with_passwords, viewer_log):
    sign_in(page, live_server)
    expect(rows(page)).to_have_count(3)
    page.evaluate("window.sameDocument = true")

    # Ticking an outcome applies at once.
    page.locator("label.pill-outcome-failure").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("mallory@evil.example")
    expect(page).to_have_url(re.compile(r"/events/\?outcome=failure$"))
    assert page.evaluate("window.sameDocument") is True

    # The query box combines with the filters; Enter runs it.
    page.locator("label.pill-outcome-failure").click()
    expect(rows(page)).to_have_count(3)
    page.get_by_label("Query").fill("action:auth.* AND ip:10.0.0.0/8")
    page.get_by_label("Query").press("Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("alice@example.com")
    expect(page).to_have_url(re.compile(r"\?q=action%3Aauth\.\*(\+|%20)AND(\+|%20)ip%3A10\.0\.0\.0%2F8$"))
    assert page.evaluate("window.sameDocument") is True

    # A broken query is pointed at, not a crash.
    page.get_by_label("Query").fill("action:auth.* AND (")
    page.get_by_label("Query").press("Enter")
    expect(page.locator(".query-error")).to_contain_text("column 19")
    expect(page.locator(".query-caret mark")).to_have_text("(")

    # The URL alone restores the view.
    page.goto(f"{live_server.url}/events/?outcome=failure")
    expect(rows(page)).to_have_count(1)
    expect(page.locator("label.pill-outcome-failure input")).to_be_checked()


def test_a_row_opens_the_event_in_the_side_panel_and_verifies_it(page: Page, live_server,
        personas_with_passwords, viewer_log):
    sign_in(page, live_server)
    page.evaluate("window.sameDocument = true")
    rows(page).filter(has_text="iam.role.update").locator("td.col-action").click()

    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", name="iam.role.update")).to_be_visible()
    expect(panel.locator(".lead")).to_contain_text('<img src=x onerror="window.pwned=1">granted admin')
    expect(panel.locator("tr.diff-added")).to_contain_text("members[1]")
    expect(panel.get_by_role("link", name=re.compile("Same trace"))).to_have_attribute("href", re.compile("trace_id=trace-42"))
    expect(page).to_have_url(re.compile(r"/events/$"))
    assert page.evaluate("window.sameDocument") is True
    assert page.evaluate("window.pwned") is None

    panel.get_by_role("link", name="Verify this event").click()
    expect(panel.locator(".verify-status")).to_contain_text("Verified")
    expect(panel.locator(".check-ok")).to_have_count(5)

    page.keyboard.press("Escape")
    expect(panel).to_be_empty()

    # Without JavaScript's help the same link is the full page.
    page.goto(f"{live_server.url}/events/evt_role/")
    expect(page.get_by_role("heading", name="iam.role.update")).to_be_visible()
    expect(page.locator(".crumbs")).to_contain_text("evt_role")


def test_picking_a_column_shows_it_and_puts_it_in_the_url(page: Page, live_server,
        personas_with_passwords, viewer_log):
    sign_in(page, live_server)
    page.get_by_text("Columns").click()
    page.get_by_role("checkbox", name="Trace id").check()
    expect(page.locator("table.events th.col-trace_id")).to_be_visible()
    expect(page).to_have_url(re.compile(r"cols=.*trace_id"))
    expect(rows(page).filter(has_text="iam.role.update")).to_contain_text("trace-42")
