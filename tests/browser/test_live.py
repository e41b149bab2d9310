"""The live view in a real browser, against a real ASGI server (uvicorn) on the test database.

Django's live_server is WSGI, where a streaming response holds a worker thread and async
iteration is not available, so these tests start uvicorn in a subprocess on a free port, with
DATABASE_URL naming the test database (transactional tests commit, so it sees their data).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from playwright.sync_api import Page, expect

from apps.rbac.models import Role
from apps.rbac.tokens import token_issue
from tests.conftest import give_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-9"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(transactional_db):
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "CONN_MAX_AGE": "0"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "auditconsole.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("uvicorn did not start")
    yield base
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def send(server, transactional_db):
    secret = token_issue(scope="ingest").secret

    def post(*events):
        response = httpx.post(server + "/api/v1/events", json={"events": list(events)},
                              headers={"Authorization": f"Bearer {secret}"}, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()

    return post


def sign_in(page: Page, base: str, username: str, path: str = "/events/live/") -> None:
    page.goto(base + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path)))
    expect(page.locator("#live-state")).to_have_text("Live")


def evt(i, actor="mallory", **extra):
    return {"event_id": f"evt_ui_{i}", "action": extra.pop("action", "auth.login"),
            "actor": {"type": "user", "id": actor}, **extra}


def rows(page: Page):
    return page.locator("#live-rows tr")


def test_events_sent_through_the_api_appear_at_the_top_as_text_and_open_their_detail(page: Page, server, send):
    get_user_model().objects.create_superuser("analyst", "analyst@example.com", PASSWORD)
    sign_in(page, server, "analyst", "/events/live/?q=NOT+category:audit")
    send(evt(1, severity="low"))
    expect(page.locator("#live-rows tr[data-seq]").first).to_contain_text("auth.login")
    send(evt(2, severity="critical", action="iam.role.update",
             description="<img src=x onerror=window.pwned=1><script>window.pwned=1</script>"))
    top = rows(page).first
    expect(top).to_contain_text("iam.role.update")
    expect(top).to_contain_text("<img src=x onerror=window.pwned=1>")
    expect(top).to_have_class(re.compile("live-sev-critical"))
    assert page.evaluate("window.pwned") is None
    assert page.locator("#live-rows img, #live-rows script").count() == 0
    top.locator("td").nth(4).click()
    expect(page).to_have_url(re.compile(r"/events/evt_ui_2/$"))


def test_a_filter_hides_what_it_should_and_pause_resume_loses_nothing(page: Page, server, send):
    get_user_model().objects.create_superuser("analyst", "analyst@example.com", PASSWORD)
    sign_in(page, server, "analyst", "/events/live/?q=outcome:failure")
    send(evt(1, outcome="success"), evt(2, outcome="failure"))
    expect(page.locator("#live-rows")).to_contain_text("auth.login")
    expect(rows(page)).to_have_count(1)
    page.get_by_role("button", name="Pause").click()
    send(*[evt(10 + i, outcome="failure") for i in range(5)])
    expect(page.locator("#live-pending")).to_have_text("5 new events while paused")
    expect(rows(page)).to_have_count(1)
    page.get_by_role("button", name="Resume").click()
    expect(rows(page)).to_have_count(6)
    seqs = [int(s) for s in rows(page).evaluate_all("rs => rs.map(r => r.dataset.seq)")]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 6
    page.get_by_role("button", name="Clear").click()
    expect(rows(page)).to_have_count(0)


def test_a_regular_users_live_view_shows_only_their_own_events(page: Page, server, send):
    alice = get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    give_role(alice, Role.Slug.REGULAR_USER)
    sign_in(page, server, "alice", "/events/live/?q=NOT+category:audit")
    send(evt(1, actor="bob", action="bob.secret.thing"), evt(2, actor="alice", action="alice.own.thing"))
    expect(page.locator("#live-rows")).to_contain_text("alice.own.thing")
    send(evt(3, actor="alice", action="alice.second.thing"))
    expect(rows(page).first).to_contain_text("alice.second.thing")
    expect(page.locator("#live-rows")).not_to_contain_text("bob.secret.thing")
