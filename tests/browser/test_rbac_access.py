"""Roles in a real browser: a Regular User's own events (alice), and an administrator (ada)
assigning a role to nora, the persona who has none yet."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.events.ingest import event_ingest
from apps.rbac.models import RoleAssignment
from tests.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def accounts(fast_passwords, personas_with_passwords):
    event_ingest([
        {"event_id": "alice-login", "timestamp": "2026-03-10T09:00:00Z", "action": "auth.login",
         "actor": {"id": "alice", "email": "alice@example.com"}, "status": "success"},
        {"event_id": "alice-by-email", "timestamp": "2026-03-10T09:05:00Z", "action": "storage.bucket.create",
         "actor": {"id": "usr_77", "email": "Alice@Example.com"}, "resource": {"type": "bucket", "id": "b-1"}},
        {"event_id": "bob-delete", "timestamp": "2026-03-10T09:10:00Z", "action": "compute.server.delete",
         "actor": {"id": "bob", "email": "bob@example.com"}, "severity": "high"},
        {"event_id": "system-backup", "timestamp": "2026-03-10T09:15:00Z", "action": "system.backup.run",
         "actor": {"type": "system"}},
    ])
    return personas_with_passwords


def sign_in(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_regular_user_sees_only_their_own_events(page: Page, live_server, accounts):
    sign_in(page, live_server, "alice")

    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("storage.bucket.create")
    expect(rows.nth(1)).to_contain_text("auth.login")
    expect(page.locator("table.events")).not_to_contain_text("compute.server.delete")
    # No access pages for her, and another person's event is not found, as if it did not exist.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Access")).to_have_count(0)
    response = page.goto(f"{live_server.url}/events/bob-delete/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert page.goto(f"{live_server.url}/access/users/").status == 403


def test_an_audit_administrator_assigns_a_role_through_the_form(page: Page, live_server, accounts):
    sign_in(page, live_server, "ada")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Access").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_role("navigation", name="Access").get_by_role("link", name="Role assignments").click()

    form = page.locator("form[action='/access/assignments/create/']")
    form.get_by_label("User").select_option(label="nora")
    form.get_by_label("Role").select_option(label="Security Analyst")
    form.get_by_label("Projects").fill("payments, billing")
    form.get_by_role("button", name="Assign role").click()

    expect(page.get_by_role("listitem").filter(has_text="nora is now Security Analyst")).to_be_visible()
    row = page.locator("table.data tbody tr").filter(has_text="nora")
    expect(row).to_contain_text("Security Analyst")
    expect(row).to_contain_text("billing")
    expect(row).to_contain_text("payments")
    assert RoleAssignment.objects.get(user=accounts["no_role"]).projects == ["billing", "payments"]


def test_an_administrators_form_error_names_the_field_and_keeps_the_page(page: Page, live_server, accounts):
    sign_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/access/assignments/")

    form = page.locator("form[action='/access/assignments/create/']")
    form.get_by_label("User").select_option(label="nora")
    form.get_by_label("Role").select_option(label="External Auditor")
    form.get_by_role("button", name="Assign role").click()

    expect(page.get_by_role("alert").filter(has_text="Window from:")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/access/assignments/create/$"))
    assert not RoleAssignment.objects.filter(user=accounts["no_role"]).exists()
