"""The time zone preference is chosen from a list, and until one is saved the browser's own is offered."""
from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from apps.rbac.models import UserPreference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

from tests.personas import PASSWORD


@pytest.fixture
def analyst(transactional_db, personas_with_passwords):
    """sam, the Security Analyst persona."""
    return personas_with_passwords["analyst"]


def test_the_zone_defaults_to_the_browsers_and_is_saved_from_the_list(browser: Browser, live_server, analyst):
    context = browser.new_context(timezone_id="Asia/Dhaka")
    page = context.new_page()
    page.goto(f"{live_server.url}/events/preferences/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value("Asia/Dhaka")
    assert zone.evaluate("element => element.tagName") == "SELECT"
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    assert UserPreference.objects.get(user=analyst).time_zone == "Asia/Dhaka"
    # Once saved, the saved zone is shown, whatever the browser's.
    other = browser.new_context(timezone_id="America/Lima", storage_state=context.storage_state())
    again = other.new_page()
    again.goto(f"{live_server.url}/events/preferences/")
    expect(again.get_by_label("Time zone")).to_have_value("Asia/Dhaka")
    context.close()
    other.close()
