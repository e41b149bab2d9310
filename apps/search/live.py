"""The live view's stream: server-sent events fed by PostgreSQL LISTEN/NOTIFY.

chain_append ends every append with `pg_notify('audit_events', '<new head seq>')`, which
PostgreSQL delivers when the append commits.

Connections. However many live views a server process streams, it holds (LiveHub, one per
event loop, that is one per server process):
- one listening connection, which LISTENs on the channel and, on each notification (bursts
  within COALESCE_SECONDS together), reads the committed chain head and wakes every live view
  of the process. When that connection drops, the hub reconnects and reads the head again:
  what was appended meanwhile is read then;
- a pool of at most READ_CONNECTIONS reading connections. A view borrows one for a read and
  gives it back before it sends what it read, so an idle or slow viewer holds none;
- no Django connection: the stream view closes its request's connection when the stream
  starts (apps.viewer.live_views).

Woken, a view reads the events its user may see that match its filters, with seq after the
last one it examined and up to the head the hub read, in seq order, capped per batch. The head
is read from the database after the notification, not taken from its payload: every append up
to it has committed, so a view never skips an event, and a lost notification only delays the
views until the next one (or the listener's next quiet-spell read, at most HEARTBEAT_SECONDS).

The stream's SSE ids are seqs: each event goes out as `id: <seq>` and, after each batch, an
`event: head` message carries the head seq examined (`id: <head>`), so a browser that
reconnects (EventSource does it by itself after a server restart) sends Last-Event-ID and
resumes exactly after what it was shown: no gap (every seq up to the head was examined) and no
duplicate (nothing at or before it is sent again).

The condition is built by the same code as every other read, `Event.objects.visible_to(user)`
and the viewer's filters (apps.search.filters.filter_q), compiled to SQL once, in the request's
thread, and run on a pooled connection as a subquery; the event loop never touches the ORM.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from psycopg_pool import AsyncConnectionPool

from apps.events.models import Event

logger = logging.getLogger(__name__)

CHANNEL = "audit_events"
HEARTBEAT_SECONDS = 15.0
BACKLOG = 50          # events shown when a live view opens (newest matching ones)
BATCH = 500           # events read per query while catching up
COALESCE_SECONDS = 0.05  # at high ingest rates, one read serves the notifications of 50 ms
READ_CONNECTIONS = 4  # per server process, whatever the number of viewers
RECONNECT_SECONDS = (0.1, 5.0)  # the listener's first and longest wait before reconnecting
# Names in pg_stat_activity, so an operator (and the tests) can tell these connections apart.
LISTENER_NAME = "audit live listener"
READER_NAME = "audit live reader"

FIELDS = (
    "seq", "event_id", "occurred_at", "action", "category", "outcome", "severity", "actor_type",
    "actor_id", "actor_name", "actor_email", "resource_type", "resource_id", "resource_name",
    "project", "ip_address", "description",
)


@dataclass(frozen=True)
class LiveQuery:
    """The compiled condition of one viewer's stream: SQL of the visible, matching events."""

    sql: str
    params: tuple

    def after(self, seq: int, upto: int, limit: int) -> tuple[str, list]:
        return (f"SELECT * FROM ({self.sql}) AS live WHERE live.seq > %s AND live.seq <= %s ORDER BY live.seq LIMIT %s",
                [*self.params, seq, upto, limit])

    def latest(self, upto: int, limit: int) -> tuple[str, list]:
        return (f"SELECT * FROM ({self.sql}) AS live WHERE live.seq <= %s ORDER BY live.seq DESC LIMIT %s",
                [*self.params, upto, limit])


def live_query(*, user, condition: Q) -> LiveQuery:
    """What a user's live view shows: their visible events matching the filters' condition."""
    qs = Event.objects.visible_to(user).filter(condition).order_by().values_list(*FIELDS)
    sql, params = qs.query.sql_with_params()
    return LiveQuery(sql=sql, params=tuple(params))


def event_payload(row: tuple) -> dict:
    """One event as the live view's script renders it (as text: every field may be hostile)."""
    event = dict(zip(FIELDS, row))
    return {
        "seq": event["seq"],
        "event_id": event["event_id"],
        "occurred_at": event["occurred_at"].isoformat().replace("+00:00", "Z"),
        "action": event["action"],
        "category": event["category"],
        "outcome": event["outcome"],
        "severity": event["severity"],
        "actor": event["actor_email"] or event["actor_name"] or event["actor_id"] or event["actor_type"] or "unknown",
        "resource": " ".join(part for part in (event["resource_type"], event["resource_name"] or event["resource_id"]) if part),
        "project": event["project"],
        "ip": str(event["ip_address"]) if event["ip_address"] is not None else "",
        "description": event["description"][:300],
        "url": reverse("events:detail", args=[event["event_id"]]),
    }


def sse(data: dict, *, event: str | None = None, id: int | None = None) -> str:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    # json.dumps never writes a raw newline, so the data stays on one SSE line.
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def conninfo() -> dict:
    db = settings.DATABASES["default"]
    info = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None, "port": db.get("PORT") or None}
    return {key: value for key, value in info.items() if value}


class LiveHub:
    """The connections every live view of one event loop shares: one listener, a read pool."""

    def __init__(self) -> None:
        self._views: set[asyncio.Event] = set()
        # The committed chain head, as last read by the listener (None before its first read).
        self.head: int | None = None
        self.pool = AsyncConnectionPool(
            kwargs={**conninfo(), "autocommit": True, "cursor_factory": psycopg.AsyncClientCursor,
                    "application_name": READER_NAME},
            min_size=1, max_size=READ_CONNECTIONS, open=False, name="audit-live",
            # A pooled connection may have been dropped while idle (server restart, an
            # administrator's pg_terminate_backend): checked when borrowed, replaced if gone.
            check=AsyncConnectionPool.check_connection,
        )
        # Started in an empty context: the hub serves every later request, not only the one
        # that happened to start it, and must not keep that request's context alive.
        context = contextvars.Context()
        loop = asyncio.get_running_loop()
        self._opening = loop.create_task(self.pool.open(), context=context)
        self._listener = loop.create_task(self._listen(), context=context)

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Event]:
        """An event the hub sets whenever the head advances; cleared by the view."""
        woken = asyncio.Event()
        self._views.add(woken)
        try:
            yield woken
        finally:
            self._views.discard(woken)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A read connection borrowed from the pool; hold it for one read only."""
        await asyncio.shield(self._opening)
        async with self.pool.connection() as conn:
            yield conn

    def _advance(self, head: int) -> None:
        if self.head is None or head > self.head:
            self.head = head
            for woken in self._views:
                woken.set()

    async def _listen(self) -> None:
        wait = RECONNECT_SECONDS[0]
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**conninfo(), autocommit=True,
                                                                 application_name=LISTENER_NAME) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    wait = RECONNECT_SECONDS[0]
                    while True:
                        # Read after LISTEN, and after every notification: an append that
                        # committed before the read is below the head read, one that commits
                        # after it notifies. After a reconnect, this first read covers what was
                        # appended while nobody listened. In a quiet spell it also finds a
                        # connection dropped without a word, which would never wake anyone.
                        self._advance(await _head(conn))
                        notified = False
                        async for _ in conn.notifies(timeout=HEARTBEAT_SECONDS, stop_after=1):
                            notified = True
                        if notified:
                            await asyncio.sleep(COALESCE_SECONDS)
            except psycopg.OperationalError as error:
                logger.warning("live view listener lost its connection (%s); reconnecting in %.1f s",
                               str(error).strip(), wait)
            except Exception:
                # The listener must outlive any failure, or every view would go quiet.
                logger.exception("live view listener failed; restarting in %.1f s", wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_SECONDS[1])

    async def close(self) -> None:
        self._listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._listener
        await self.pool.close()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def live_hub() -> LiveHub:
    """The running event loop's hub, started by the first live view that asks for it."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = LiveHub()
    return hub


async def live_close() -> None:
    """Close the running loop's hub and its connections (a server process simply exits)."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.close()


async def live_stream(query: LiveQuery, *, last_seq: int | None) -> AsyncIterator[str]:
    """The SSE stream of one live view, from just after `last_seq` (None: a fresh view, which
    first gets the BACKLOG newest matching events)."""
    hub = live_hub()
    with hub.subscription() as woken:
        # The retry hint: how long EventSource waits before reconnecting after a drop.
        yield "retry: 1000\n\n"
        if last_seq is None:
            async with hub.connection() as conn:
                head = await _head(conn)
                rows = await _rows(conn, query.latest(head, BACKLOG))
            for row in reversed(rows):
                yield sse(event_payload(row), id=row[0])
            last_seq = head
            yield _head_message(head)
        while True:
            # No await between this check and the wait: the hub cannot advance unseen.
            woken.clear()
            if hub.head is None or hub.head <= last_seq:
                try:
                    async with asyncio.timeout(HEARTBEAT_SECONDS):
                        await woken.wait()
                except TimeoutError:
                    # Keeps proxies from closing an idle stream, and finds a closed client.
                    yield ": heartbeat\n\n"
                continue
            # The listener read this head after the appends up to it committed, so they are
            # all visible to the reads below. Rows are read on a borrowed connection and sent
            # after it is given back, so a slow client never holds a connection.
            head = hub.head
            after = last_seq
            while True:
                async with hub.connection() as conn:
                    rows = await _rows(conn, query.after(after, head, BATCH))
                for row in rows:
                    yield sse(event_payload(row), id=row[0])
                if len(rows) < BATCH:
                    break
                after = rows[-1][0]
            last_seq = head
            yield _head_message(head)


def _head_message(head: int) -> str:
    return sse({"head": head, "at": time.time()}, event="head", id=head)


async def _head(conn) -> int:
    cursor = await conn.execute("SELECT seq FROM audit_chain_head WHERE id = 1")
    row = await cursor.fetchone()
    return row[0] if row else 0


async def _rows(conn, statement: tuple[str, list]) -> list[tuple]:
    cursor = await conn.execute(*statement)
    return await cursor.fetchall()
