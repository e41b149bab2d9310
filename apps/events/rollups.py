"""Counts of events per time bucket and dimension, kept current at ingest for the dashboard.

chain_append calls `rollups_apply` inside its transaction, under the chain-head lock, with the
batch it just stored: the batch is aggregated in Python (one key per bucket, granularity,
dimension and value) and written with one INSERT ... ON CONFLICT DO UPDATE SET count = count +
EXCLUDED.count. The rollups are therefore exactly as fresh as the log: an event is counted
when, and only when, it is committed.

Events stored before the rollups existed (or while they were switched off) are counted by
`rollups_catch_up`, which the worker runs every minute: it walks the events after
RollupState.seq in chunks. Ingest only adds to the rollups when RollupState.seq equals the
chain head it locked, so the two never count the same event twice.

Dimensions: category, action, actor, outcome, severity, project, resource, source (ingestion
health), signal (the dashboard's security signals, apps.events.dashboard.SIGNALS) and "all".
Each has a value function of the event's stored fields, shared by ingest and catch-up.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone as dt_timezone

from django.db import connection, transaction

# granularity → how a time is floored to its bucket.
GRANULARITIES = ("minute", "hour", "day")

# Minute buckets are only read for the last hour (the live rate and "recent" sparkline); they
# would otherwise be the largest table of the console, so only the busiest dimensions get them.
MINUTE_DIMENSIONS = ("all", "severity", "outcome")


def _floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(dt_timezone.utc)
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def floor_time(moment: datetime, granularity: str) -> datetime:
    return _floor(moment, granularity)


def event_source(event: Mapping) -> str:
    """Where an event came from, for ingestion health: the CloudEvents source, else the
    service, API key or system that sent it, else the kind of actor (`user`)."""
    metadata = event.get("metadata") or {}
    if isinstance(metadata, Mapping):
        envelope = metadata.get("cloudevents")
        if isinstance(envelope, Mapping) and envelope.get("source"):
            return str(envelope["source"])[:200]
    actor_type = event.get("actor_type") or ""
    if actor_type in ("service", "api_key", "system") and event.get("actor_id"):
        return f"{actor_type}:{event['actor_id']}"[:200]
    return actor_type or "unknown"


def actor_value(event: Mapping) -> str:
    """The actor as the dashboard lists it (and `actor:<value>` finds it): email, else id."""
    return (event.get("actor_email") or event.get("actor_id") or "").lower()


def _values(event: Mapping) -> Iterable[tuple[str, str]]:
    from apps.events.dashboard import signals_of

    yield "all", ""
    yield "category", event.get("category") or ""
    yield "action", event.get("action") or ""
    yield "outcome", event.get("outcome") or ""
    yield "severity", event.get("severity") or ""
    yield "project", event.get("project") or ""
    yield "source", event_source(event)
    actor = actor_value(event)
    if actor:
        yield "actor", actor
    if event.get("resource_id"):
        yield "resource", event["resource_id"]
    for signal in signals_of(event):
        yield "signal", signal


def rollup_counts(events: Iterable[Mapping]) -> Counter:
    """The increments a set of events (mappings of stored fields) makes, keyed by
    (bucket_start, granularity, dimension, value)."""
    counts: Counter = Counter()
    for event in events:
        occurred = event["occurred_at"]
        buckets = {granularity: _floor(occurred, granularity) for granularity in GRANULARITIES}
        for dimension, value in _values(event):
            for granularity in GRANULARITIES:
                if granularity == "minute" and dimension not in MINUTE_DIMENSIONS:
                    continue
                counts[(buckets[granularity], granularity, dimension, value)] += 1
    return counts


_UPSERT = (
    "INSERT INTO audit_rollup_bucket (bucket_start, granularity, dimension, value, count) "
    "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::bigint[]) "
    "ON CONFLICT (granularity, dimension, bucket_start, value) "
    "DO UPDATE SET count = audit_rollup_bucket.count + EXCLUDED.count"
)

_UPSERT_IF_CURRENT = (
    "WITH state AS (UPDATE audit_rollup_state SET seq = %s WHERE id = 1 AND seq = %s RETURNING id) "
    "INSERT INTO audit_rollup_bucket (bucket_start, granularity, dimension, value, count) "
    "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::bigint[]) "
    "WHERE EXISTS (SELECT 1 FROM state) "
    "ON CONFLICT (granularity, dimension, bucket_start, value) "
    "DO UPDATE SET count = audit_rollup_bucket.count + EXCLUDED.count"
)


def _sorted_keys(counts: Counter) -> list:
    # Sorted, so two writers (ingest and a catch-up) lock rows in the same order and cannot
    # deadlock on each other.
    return sorted(counts, key=lambda key: (key[1], key[2], key[0], key[3]))


def _columns(keys: list, counts: Counter) -> list:
    return [[key[0] for key in keys], [key[1] for key in keys], [key[2] for key in keys],
            [key[3] for key in keys], [counts[key] for key in keys]]


def _write(cursor, counts: Counter) -> None:
    if counts:
        keys = _sorted_keys(counts)
        cursor.execute(_UPSERT, _columns(keys, counts))


def rollups_apply(cursor, *, events: list[Mapping], head_seq: int, last_seq: int) -> None:
    """Count a batch chain_append just stored (seqs head_seq+1 .. last_seq), in its transaction.

    One statement: it moves RollupState from head_seq to last_seq and adds the counts only if
    the state was at head_seq. While a catch-up has not reached the head yet nothing is
    counted here: the catch-up will count these events too, from the events table. (The
    UPDATE waits for a catch-up chunk holding the row, then re-checks the condition.)
    """
    counts = rollup_counts(events)
    if not counts:
        return
    keys = _sorted_keys(counts)
    cursor.execute(_UPSERT_IF_CURRENT, [last_seq, head_seq, *_columns(keys, counts)])


_CATCH_UP_COLUMNS = (
    "seq", "occurred_at", "action", "category", "outcome", "severity", "actor_type", "actor_id",
    "actor_email", "project", "resource_id", "tags", "metadata",
)


def rollups_catch_up(*, chunk: int = 20_000, limit: int | None = None) -> int:
    """Count the stored events the rollups do not count yet (after RollupState.seq).

    Each chunk is its own transaction holding the state row's lock, never the chain head's,
    so ingest keeps going meanwhile. Returns the number of events counted.
    """
    done = 0
    while limit is None or done < limit:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT seq FROM audit_rollup_state WHERE id = 1 FOR UPDATE")
            row = cursor.fetchone()
            if row is None:
                cursor.execute("INSERT INTO audit_rollup_state (id, seq) VALUES (1, 0) ON CONFLICT DO NOTHING")
                cursor.execute("SELECT seq FROM audit_rollup_state WHERE id = 1 FOR UPDATE")
                row = cursor.fetchone()
            start = row[0]
            cursor.execute(
                f"SELECT {', '.join(_CATCH_UP_COLUMNS)} FROM audit_event WHERE seq > %s ORDER BY seq LIMIT %s",
                [start, chunk],
            )
            rows = [dict(zip(_CATCH_UP_COLUMNS, values)) for values in cursor.fetchall()]
            if not rows:
                return done
            for event in rows:
                if isinstance(event["metadata"], str):
                    event["metadata"] = json.loads(event["metadata"])
            _write(cursor, rollup_counts(rows))
            cursor.execute("UPDATE audit_rollup_state SET seq = %s WHERE id = 1", [rows[-1]["seq"]])
            done += len(rows)
        if len(rows) < chunk:
            return done
    return done


def rollup_state() -> tuple[int, int]:
    """(seq the rollups count up to, the chain head's seq)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT seq FROM audit_rollup_state WHERE id = 1), (SELECT seq FROM audit_chain_head WHERE id = 1)")
        rolled, head = cursor.fetchone()
    return rolled or 0, head or 0


def rollup_series(*, granularity: str, dimension: str, start: datetime, value: str | None = None) -> dict[datetime, int]:
    """Counts per bucket from `start` on, for one dimension (and one value, or all summed)."""
    sql = ("SELECT bucket_start, sum(count) FROM audit_rollup_bucket "
           "WHERE granularity = %s AND dimension = %s AND bucket_start >= %s")
    params: list = [granularity, dimension, start]
    if value is not None:
        sql += " AND value = %s"
        params.append(value)
    sql += " GROUP BY bucket_start"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {bucket: int(count) for bucket, count in cursor.fetchall()}


def rollup_top(*, granularity: str, dimension: str, start: datetime, limit: int | None = 10,
               values: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """The values of a dimension with the most events from `start` on, most first."""
    sql = ("SELECT value, sum(count) AS n FROM audit_rollup_bucket "
           "WHERE granularity = %s AND dimension = %s AND bucket_start >= %s")
    params: list = [granularity, dimension, start]
    if values is not None:
        sql += " AND value = ANY(%s)"
        params.append(list(values))
    sql += " GROUP BY value ORDER BY n DESC, value"
    if limit:
        sql += " LIMIT %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(value, int(count)) for value, count in cursor.fetchall()]


def rollup_last_seen(*, dimension: str, since: datetime) -> dict[str, datetime]:
    """For each value of a dimension seen since `since`: the start of its latest hour bucket."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value, max(bucket_start) FROM audit_rollup_bucket "
            "WHERE granularity = 'hour' AND dimension = %s AND bucket_start >= %s GROUP BY value",
            [dimension, since],
        )
        return {value: last for value, last in cursor.fetchall()}


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    hours, moment = [], _floor(start, "hour")
    while moment <= end:
        hours.append(moment)
        moment += timedelta(hours=1)
    return hours
