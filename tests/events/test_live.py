"""The live view's stream: LISTEN/NOTIFY wakes it, it sends what the user may see, in seq order."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.test import Client

from apps.events.filters import filter_q
from apps.events.ingest import event_ingest
from apps.events.live import live_query, live_stream
from apps.rbac.models import Role
from tests.conftest import give_role

pytestmark = pytest.mark.django_db(transaction=True)



def run_in_own_loop(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running in
    the main thread once a browser test has run, and asyncio.run refuses to nest in it."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


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
def alice():
    user = get_user_model().objects.create_user("alice", "alice@example.com", "correct-horse-battery-2")
    give_role(user, Role.Slug.REGULAR_USER)
    return user


@pytest.fixture
def admin():
    return get_user_model().objects.create_superuser("ada", "ada@example.com", "correct-horse-battery-3")


def test_new_events_are_streamed_when_their_append_commits_and_only_matching_visible_ones(alice):
    event_ingest([event(0), event(1, actor="bob")])
    condition, _ = filter_q({"action": "auth.*"})
    query = live_query(user=alice, condition=condition)   # compiled in the request's thread, as the view does

    async def scenario():
        stream = live_stream(query, last_seq=None)
        first = messages(await read_until(stream, lambda found: heads(found)))
        assert shown(first) == ["evt_live_0"]          # the backlog: alice's, not bob's
        await asyncio.to_thread(event_ingest, [event(2), event(3, actor="bob"), event(4, action="iam.role.update"),
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


def test_the_stream_view_refuses_a_bad_query_and_needs_the_permission(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/events/live/stream/", {"q": "action:("}).status_code == 400
    assert client.get("/events/live/").status_code == 200
    nobody = get_user_model().objects.create_user("nora", "nora@example.com", "x-correct-horse-battery")
    client.force_login(nobody)
    assert client.get("/events/live/").status_code == 403
    assert client.get("/events/live/stream/").status_code == 403
