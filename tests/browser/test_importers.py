"""The import page in a real browser: an Audit Administrator drops a real CloudTrail file
(Stratus Red Team, Apache-2.0), previews it, imports it and sees the summary."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from apps.events.models import Event
from apps.rbac.models import Role
from tests.factories import REALDATA, give_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-7"
SAMPLE = REALDATA / "aws_cloudtrail" / "stratus_red_team" / "aws.credential-access.ec2-get-password-data.json"
SCREENSHOTS = Path("/tmp/importers-screenshots")


@pytest.fixture
def administrator(transactional_db):
    user = get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
    give_role(user, Role.Slug.AUDIT_ADMINISTRATOR)
    return user


def _sign_in(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/import/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Import audit logs")).to_be_visible()


def _drop(page: Page, path: Path) -> None:
    """Drag a file onto the drop zone, as a user dragging it from their desktop would."""
    page.evaluate(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "application/json"}));
            const zone = document.querySelector("[data-dropzone]");
            zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        [path.name, path.read_text()],
    )


def test_an_administrator_drops_a_cloudtrail_file_previews_and_imports_it(page: Page, live_server, administrator):
    SCREENSHOTS.mkdir(exist_ok=True)
    _sign_in(page, live_server)
    page.screenshot(path=str(SCREENSHOTS / "1-import-page.png"), full_page=True)

    _drop(page, SAMPLE)
    expect(page.locator("[data-dropzone-name]")).to_have_text(SAMPLE.name)
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#import-preview")
    expect(preview.get_by_role("heading")).to_contain_text(f"Preview of {SAMPLE.name}")
    expect(preview.locator(".format-badge")).to_have_text("cloudtrail")
    expect(preview.locator("table tbody tr")).to_have_count(10)
    expect(preview).to_contain_text("ec2.get_password_data")
    expect(preview.locator(".outcome-denied").first).to_be_visible()
    assert Event.objects.count() == 0
    page.screenshot(path=str(SCREENSHOTS / "2-preview.png"), full_page=True)

    page.get_by_role("button", name="Import 34 events").click()
    summary = page.locator("#import-summary")
    expect(summary.get_by_role("heading")).to_have_text(f"Imported 34 events from {SAMPLE.name}")
    assert Event.objects.filter(action="ec2.get_password_data", outcome="denied").count() == 30
    page.screenshot(path=str(SCREENSHOTS / "3-summary.png"), full_page=True)

    summary.get_by_role("link", name="Show the imported events").click()
    expect(page).to_have_url(re.compile(r"/events/\?q="))
    expect(page.get_by_text("ec2.get_password_data").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "5-imported-events.png"), full_page=False)


def test_a_file_of_the_wrong_format_is_explained_in_the_browser(page: Page, live_server, administrator):
    _sign_in(page, live_server)
    page.set_input_files("input[type=file]", str(SAMPLE))
    page.locator("select[name=format]").select_option("okta")
    page.get_by_role("button", name="Preview").click()
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("this is not Okta System Log: it looks like AWS CloudTrail")
    expect(page.get_by_role("button", name=re.compile("^Import"))).to_have_count(0)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "4-wrong-format.png"), full_page=True)
