"""The live view's stream: LISTEN/NOTIFY wakes it, it sends what the user may see, in seq order."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json

import psycopg
import pytest
from django.db import connections
from django.db.models import Q

from apps.search.filters import filter_q
from apps.events.ingest import event_ingest
from apps.search.live import LISTENER_NAME, READ_CONNECTIONS, READER_NAME, conninfo, live_close, live_query, live_stream

pytestmark = pytest.mark.django_db(transaction=True)



def run_in_own_loop(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running in
    the main thread once a browser test has run, and asyncio.run refuses to nest in it.

    The loop's live hub is closed at the end, as a server process's connections go when it
    exits, so that none is left on the test database."""

    async def main():
        try:
            return await coroutine
        finally:
            await live_close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def ingest_meanwhile(events: list[dict]) -> None:
    """Append events from another thread while a stream is open, as another process would.

    The thread's Django connection is closed afterwards, or it would stay open on the test
    database until the thread is collected."""

    def append():
        try:
            event_ingest(events)
        finally:
            connections.close_all()

    await asyncio.to_thread(append)


def event(i: int, actor: str = "alice", **extra) -> dict:
    return {"event_id": f"evt_live_{i}", "action": extra.pop("action", "auth.login"),
            "actor": {"type": "user", "id": actor}, **extra}


def messages(chunks: list[str]) -> list[dict]:
    found = []
    for chunk in chunks:
        lines = dict(line.split(": ", 1) for line in chunk.strip().splitlines() if ": " in line and not line.startswith(":"))
        if "data" in lines:
            found.append({"kind": lines.get("event", "message"), "id": int(lines["id"]) if "id" in lines else None,
                          **json.loads(lines["data"])})
    return found


async def read_until(stream, predicate, timeout: float = 5.0) -> list[str]:
    chunks: list[str] = []

    async def go():
        async for chunk in stream:
            chunks.append(chunk)
            if predicate(messages(chunks)):
                return

    await asyncio.wait_for(go(), timeout)
    return chunks


def heads(found):
    return [m for m in found if m["kind"] == "head"]


def shown(found):
    return [m["event_id"] for m in found if m["kind"] == "message"]


@pytest.fixture
def alice(people):
    """alice, the Regular User persona: sees the events she is the actor of."""
    return people["regular"]


@pytest.fixture
def admin(people):
    """ada, the Audit Administrator persona: sees the whole log."""
    return people["admin"]


def test_new_events_are_streamed_when_their_append_commits_and_only_matching_visible_ones(alice):
    event_ingest([event(0), event(1, actor="bob")])
    condition, _ = filter_q({"action": "auth.*"})
    query = live_query(user=alice, condition=condition)   # compiled in the request's thread, as the view does

    async def scenario():
        stream = live_stream(query, last_seq=None)
        first = messages(await read_until(stream, lambda found: heads(found)))
        assert shown(first) == ["evt_live_0"]          # the backlog: alice's, not bob's
        await ingest_meanwhile([event(2), event(3, actor="bob"), event(4, action="iam.role.update"),
                                               event(5)])
        later = messages(await read_until(stream, lambda found: heads(found)))
        assert shown(later) == ["evt_live_2", "evt_live_5"]
        assert heads(later)[-1]["id"] == 6
        await stream.aclose()

    run_in_own_loop(scenario())


def test_a_stream_resumed_after_a_seq_sends_what_followed_with_no_gap_and_no_duplicate(admin):
    event_ingest([event(i) for i in range(1, 8)])
    query = live_query(user=admin, condition=Q())

    async def scenario():
        stream = live_stream(query, last_seq=3)
        found = messages(await read_until(stream, lambda found: heads(found)))
        assert [m["seq"] for m in found if m["kind"] == "message"] == [4, 5, 6, 7]
        assert [m["id"] for m in found if m["kind"] == "message"] == [4, 5, 6, 7]
        await stream.aclose()

    run_in_own_loop(scenario())


def test_the_stream_view_refuses_a_bad_query_and_needs_the_permission(browser_for):
    client = browser_for("regular")
    assert client.get("/events/live/stream/", {"q": "action:("}).status_code == 400
    assert client.get("/events/live/").status_code == 200
    client = browser_for("no_role")
    assert client.get("/events/live/").status_code == 403
    assert client.get("/events/live/stream/").status_code == 403


async def live_backends() -> dict[str, list[int]]:
    """The live views' connections to the test database, by application name: {name: [pid]}."""
    async with await psycopg.AsyncConnection.connect(**conninfo(), autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT application_name, pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name IN (%s, %s) ORDER BY pid", [LISTENER_NAME, READER_NAME])
        found: dict[str, list[int]] = {}
        for name, pid in await cursor.fetchall():
            found.setdefault(name, []).append(pid)
        return found


async def terminate(pids: list[int]) -> None:
    async with await psycopg.AsyncConnection.connect(**conninfo(), autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])


def test_many_open_live_views_share_one_listening_connection_and_a_few_read_connections(admin):
    event_ingest([event(0)])
    query = live_query(user=admin, condition=Q())

    async def scenario():
        streams = [live_stream(query, last_seq=None) for _ in range(30)]
        for stream in streams:
            assert shown(messages(await read_until(stream, lambda found: heads(found)))) == ["evt_live_0"]
        backends = await live_backends()
        assert len(backends[LISTENER_NAME]) == 1
        assert 1 <= len(backends.get(READER_NAME, [])) <= READ_CONNECTIONS
        await ingest_meanwhile([event(1)])
        for stream in streams:
            assert shown(messages(await read_until(stream, lambda found: heads(found)))) == ["evt_live_1"]
        assert len((await live_backends()).get(READER_NAME, [])) <= READ_CONNECTIONS
        for stream in streams:
            await stream.aclose()

    run_in_own_loop(scenario())


def test_a_viewer_still_gets_every_event_once_after_the_database_drops_the_live_connections(admin):
    event_ingest([event(0)])
    query = live_query(user=admin, condition=Q())

    async def scenario():
        stream = live_stream(query, last_seq=None)
        assert shown(messages(await read_until(stream, lambda found: heads(found)))) == ["evt_live_0"]
        # An administrator (or a failover) ends the listener and the read connections; events
        # are appended while the listener is away, and then after it is back.
        backends = await live_backends()
        await terminate(backends[LISTENER_NAME] + backends.get(READER_NAME, []))
        await ingest_meanwhile([event(1), event(2)])
        found = messages(await read_until(stream, lambda found: heads(found) and heads(found)[-1]["id"] >= 3))
        assert shown(found) == ["evt_live_1", "evt_live_2"]
        while (await live_backends()).get(LISTENER_NAME, []) in ([], backends[LISTENER_NAME]):
            await asyncio.sleep(0.05)
        await ingest_meanwhile([event(3)])
        later = messages(await read_until(stream, lambda found: heads(found)))
        assert shown(later) == ["evt_live_3"]
        await stream.aclose()

    run_in_own_loop(scenario())


def test_a_viewer_reconnecting_with_its_last_event_id_misses_nothing_appended_while_it_was_away(admin):
    event_ingest([event(i) for i in range(1, 4)])
    query = live_query(user=admin, condition=Q())

    async def scenario():
        first = live_stream(query, last_seq=None)
        before = messages(await read_until(first, lambda found: heads(found)))
        await ingest_meanwhile([event(4)])
        before += messages(await read_until(first, lambda found: heads(found)))
        await first.aclose()    # the connection drops; EventSource keeps the last id it saw
        last_id = [m["id"] for m in before if m["id"] is not None][-1]
        await ingest_meanwhile([event(5), event(6)])
        second = live_stream(query, last_seq=last_id)
        after = messages(await read_until(second, lambda found: heads(found)))
        await ingest_meanwhile([event(7)])
        after += messages(await read_until(second, lambda found: heads(found)))
        await second.aclose()
        assert shown(before) + shown(after) == [f"evt_live_{i}" for i in range(1, 8)]

    run_in_own_loop(scenario())
