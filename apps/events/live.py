"""The live view's stream: server-sent events fed by PostgreSQL LISTEN/NOTIFY.

chain_append ends every append with `pg_notify('audit_events', '<new head seq>')`, which
PostgreSQL delivers when the append commits. Each open live view holds one asynchronous
psycopg connection (one per viewer: fine for dozens of viewers on one database; a shared
listener per process is the next step past that) that LISTENs on the channel and, when woken,
reads the events the viewer may see that match its filters, with seq after the last one it
examined and up to the committed chain head, in seq order, capped per batch.

The stream's SSE ids are seqs: each event goes out as `id: <seq>` and, after each batch, an
`event: head` message carries the head seq examined (`id: <head>`), so a browser that
reconnects (EventSource does it by itself after a server restart) sends Last-Event-ID and
resumes exactly after what it was shown: no gap (every seq up to the head was examined) and no
duplicate (nothing at or before it is sent again).

The condition is built by the same code as every other read, `Event.objects.visible_to(user)`
and the viewer's filters (apps.events.filters.filter_q), compiled to SQL once, in the request's
thread, and run on the listening connection as a subquery; the event loop never touches the ORM.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from apps.events.models import Event

CHANNEL = "audit_events"
HEARTBEAT_SECONDS = 15.0
BACKLOG = 50          # events shown when a live view opens (newest matching ones)
BATCH = 500           # events read per query while catching up
COALESCE_SECONDS = 0.05  # at high ingest rates, one read serves the notifications of 50 ms

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


async def live_stream(query: LiveQuery, *, last_seq: int | None) -> AsyncIterator[str]:
    """The SSE stream of one live view, from just after `last_seq` (None: a fresh view, which
    first gets the BACKLOG newest matching events)."""
    conn = await psycopg.AsyncConnection.connect(**conninfo(), autocommit=True,
                                                 cursor_factory=psycopg.AsyncClientCursor,
                                                 application_name="audit live view")
    try:
        await conn.execute(f"LISTEN {CHANNEL}")
        # Listening before reading the head: an append committing in between is either below
        # the head read here, or its notification is waiting for us.
        head = await _head(conn)
        # The retry hint: how long EventSource waits before reconnecting after a drop.
        yield "retry: 1000\n\n"
        if last_seq is None:
            cursor = await conn.execute(*query.latest(head, BACKLOG))
            rows = list(reversed(await cursor.fetchall()))
            for row in rows:
                yield sse(event_payload(row), id=row[0])
            last_seq = head
            yield sse({"head": head, "at": time.time()}, event="head", id=head)
        while True:
            if head > last_seq:
                while True:
                    cursor = await conn.execute(*query.after(last_seq, head, BATCH))
                    rows = await cursor.fetchall()
                    for row in rows:
                        yield sse(event_payload(row), id=row[0])
                    if len(rows) < BATCH:
                        break
                    last_seq = rows[-1][0]
                last_seq = head
                yield sse({"head": head, "at": time.time()}, event="head", id=head)
            woken = False
            async for _ in conn.notifies(timeout=HEARTBEAT_SECONDS, stop_after=1):
                woken = True
            if woken:
                await asyncio.sleep(COALESCE_SECONDS)
            else:
                # Keeps proxies from closing an idle stream, and finds a closed client.
                yield ": heartbeat\n\n"
            head = await _head(conn)
    finally:
        await conn.close()


async def _head(conn) -> int:
    cursor = await conn.execute("SELECT seq FROM audit_chain_head WHERE id = 1")
    row = await cursor.fetchone()
    return row[0] if row else 0
