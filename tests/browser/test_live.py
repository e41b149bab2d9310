"""The live view in a real browser, against a real ASGI server (uvicorn) on the test database."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from apps.search.live import LISTENER_NAME, READ_CONNECTIONS, READER_NAME, conninfo
from apps.rbac.tokens import token_issue
from tests.asgi_server import SERVER_NAME, uvicorn_server
from tests.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def server(transactional_db):
    with uvicorn_server(CONN_MAX_AGE="0") as base:
        yield base


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


def test_events_sent_through_the_api_appear_at_the_top_as_text_and_open_their_detail(
        page: Page, server, send, personas_with_passwords):
    sign_in(page, server, "sam", "/events/live/?q=NOT+category:audit")
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


def test_a_filter_hides_what_it_should_and_pause_resume_loses_nothing(page: Page, server, send,
                                                                      personas_with_passwords):
    sign_in(page, server, "sam", "/events/live/?q=outcome:failure")
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


def test_a_regular_users_live_view_shows_only_their_own_events(page: Page, server, send, personas_with_passwords):
    sign_in(page, server, "alice", "/events/live/?q=NOT+category:audit")
    send(evt(1, actor="bob", action="bob.secret.thing"), evt(2, actor="alice", action="alice.own.thing"))
    expect(page.locator("#live-rows")).to_contain_text("alice.own.thing")
    send(evt(3, actor="alice", action="alice.second.thing"))
    expect(rows(page).first).to_contain_text("alice.second.thing")
    expect(page.locator("#live-rows")).not_to_contain_text("bob.secret.thing")


def test_fifty_open_live_views_hold_one_listening_and_a_few_read_connections_and_all_get_each_event(browser_for):
    """One server process, 50 live views open at once (what ran PostgreSQL out of connections
    when each view held a listening connection and its request's Django connection)."""
    client = browser_for("analyst")
    session = client.cookies["sessionid"].value
    secret = token_issue(scope="ingest").secret

    async def server_backends(conn) -> int:
        """The server's connections to the test database: its Django ones and the live views'."""
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name IN (%s, %s, %s)",
            [SERVER_NAME, LISTENER_NAME, READER_NAME])
        return (await cursor.fetchone())[0]

    async def next_message(lines, *, kind: str) -> dict:
        """The next message with `kind` in its data: an event's `event_id`, or `head`."""
        async for line in lines:
            if line.startswith("data: ") and kind in (data := json.loads(line.removeprefix("data: "))):
                return data

    # With persistent connections (and no pool), a request's connection is not even closed when
    # its response ends.
    with uvicorn_server(DB_POOL="0", CONN_MAX_AGE="60") as base:
        async def scenario():
            async with httpx.AsyncClient(base_url=base, cookies={"sessionid": session}, timeout=20,
                                         limits=httpx.Limits(max_connections=60)) as http, \
                    await psycopg.AsyncConnection.connect(**conninfo(), autocommit=True) as conn:
                async with contextlib.AsyncExitStack() as streams:
                    lines = []
                    for _ in range(50):
                        response = await streams.enter_async_context(
                            http.stream("GET", "/events/live/stream/", params={"q": "action:ui.*"}))
                        assert response.status_code == 200
                        lines.append(response.aiter_lines())
                    for stream in lines:
                        await next_message(stream, kind="head")
                    held = await server_backends(conn)
                    for _ in range(50):
                        if held <= 1 + READ_CONNECTIONS:
                            break
                        # A closed connection leaves pg_stat_activity once its backend has exited.
                        await asyncio.sleep(0.1)
                        held = await server_backends(conn)
                    assert held <= 1 + READ_CONNECTIONS
                    sent = httpx.post(base + "/api/v1/events", headers={"Authorization": f"Bearer {secret}"},
                                      json={"events": [{"event_id": "evt_ui_many", "action": "ui.many.viewers",
                                                        "actor": {"id": "mallory"}}]}, timeout=10)
                    assert sent.status_code == 202
                    for stream in lines:
                        assert (await next_message(stream, kind="event_id"))["event_id"] == "evt_ui_many"

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(lambda: asyncio.run(asyncio.wait_for(scenario(), 60))).result()
