"""Counts of events per time bucket and dimension, kept current at ingest for the dashboard.

chain_append calls `rollups_apply` inside its transaction, under the chain-head lock, once the
batch is stored: one INSERT ... SELECT counts the events of the seq range it just appended
straight from the events table (GROUP BY bucket, granularity, dimension and value) and adds the
counts with ON CONFLICT DO UPDATE SET count = count + EXCLUDED.count. The rollups are therefore
exactly as fresh as the log: an event is counted when, and only when, it is committed.

The counting is SQL rather than Python because it runs under the chain-head lock for every
batch: PostgreSQL aggregates the rows it has just written (still in its buffers) in a fraction
of the time Python took to walk the batch, key by key, and ship the keys back as arrays.

Events stored before the rollups existed (or while they were switched off, as seed_demo does
during a bulk load) are counted by `rollups_catch_up`, which the worker runs every minute: it
counts the events after RollupState.seq in chunks, with the same statement. Ingest only adds
to the rollups when RollupState.seq equals the chain head it locked, so the two never count
the same event twice.

Dimensions: category, action, actor, outcome, severity, project, resource, source (ingestion
health), signal (the security signals, apps.events.security_signals.SIGNALS) and "all".
Each is an SQL expression over the stored columns (DIMENSIONS); the signals are their own
queries of the query language compiled to SQL, so a signal's count is by construction the
number of events the viewer shows for its link.

The console's own records (category `audit`, apps.rbac.audit_trail) are counted under the
same dimensions prefixed with CONSOLE_PREFIX (`console:all`, `console:action`, ...), apart from
the events systems sent: the dashboard shows either, exactly, without subtracting one from the
other (a subtraction cannot be exact for a top list). `all` and the rest count systems' events.

Per actor (audit_rollup_actor, below): the same counts for a few dimensions, split by the
actor's UPPER(actor_id) and UPPER(actor_email), for the dashboards of users who see only some
actors' events. Those are counted by the catch-up alone, not at ingest.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone as dt_timezone

from django.db import connection, transaction

# granularity → how a time is floored to its bucket.
GRANULARITIES = ("minute", "hour", "day")

# Minute buckets are only read for the last hour (the live rate and "recent" sparkline); they
# would otherwise be the largest table of the console, so only the busiest dimensions get them,
# and only events that happened at most MINUTE_WINDOW before they are counted: an older event
# is never in a last-hour window again (demo data spread over weeks, late batches, catch-ups).
MINUTE_DIMENSIONS = ("all", "severity", "outcome")
MINUTE_WINDOW = "2 hours"

# dimension → the value an event is counted under, as SQL over audit_event's columns (all NOT
# NULL but ip_address, status_code and changes); NULL means the event has no value there and is
# not counted in that dimension.
DIMENSIONS = {
    "all": "''",
    "category": "category",
    "action": "action",
    "outcome": "outcome",
    "severity": "severity",
    "project": "project",
    # Where an event came from, for ingestion health: the CloudEvents source (a string, as the
    # specification has it), else the service, API key or system that sent it, else the kind
    # of actor (`user`).
    "source": (
        "CASE WHEN metadata ? 'cloudevents' AND jsonb_typeof(metadata -> 'cloudevents' -> 'source') = 'string'"
        " AND metadata -> 'cloudevents' ->> 'source' <> ''"
        " THEN left(metadata -> 'cloudevents' ->> 'source', 200)"
        " WHEN actor_type IN ('service', 'api_key', 'system') AND actor_id <> ''"
        " THEN left(actor_type || ':' || actor_id, 200)"
        " ELSE coalesce(nullif(actor_type, ''), 'unknown') END"
    ),
    # The actor as the dashboard lists it (and `actor:<value>` finds it): email, else id.
    "actor": "nullif(lower(CASE WHEN actor_email <> '' THEN actor_email ELSE actor_id END), '')",
    "resource": "nullif(resource_id, '')",
}

# Dimension names of the console's own records (category `audit`): `console:` + the dimension.
CONSOLE_PREFIX = "console:"
_DIMENSION_NAME = ("CASE WHEN audit_event.category = 'audit' THEN 'console:' || d.dimension"
                   " ELSE d.dimension END")

# The signals' SQL, compiled once per process: signals are fixed queries with no relative
# times in them, so their SQL does not change while the process runs.
_signal_sql: tuple[list[str], list] | None = None


def floor_time(moment: datetime, granularity: str) -> datetime:
    """The start of the bucket holding `moment` (UTC), as the counting statement floors it."""
    moment = moment.astimezone(dt_timezone.utc)
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _signals() -> tuple[list[str], list]:
    """For every signal, SQL giving its key when an event raises it (else NULL); their parameters."""
    global _signal_sql
    if _signal_sql is None:
        from apps.events.security_signals import SIGNALS
        from apps.events.models import Event
        from apps.events.query import parse_query

        rows, params = [], []
        for signal in SIGNALS:
            query = Event.objects.filter(parse_query(signal.query)).query
            if len(query.alias_map) != 1:
                raise ValueError(f"signal {signal.key}: a rollup condition must read audit_event alone")
            condition, condition_params = query.get_compiler(connection=connection).compile(query.where)
            rows.append(f"CASE WHEN {condition} THEN %s END")
            params += [*condition_params, signal.key]
        _signal_sql = rows, params
    return _signal_sql


def _unnest(names, expressions) -> str:
    return (f"unnest(ARRAY[{', '.join(repr(name) for name in names)}]::text[], "
            f"ARRAY[{', '.join(expressions)}]::text[])")


def _counting_sql(after: int, last: int) -> tuple[str, list]:
    """A query of (bucket_start, granularity, dimension, value, count) over the events with
    after < seq <= last, and its parameters.

    Each event's dimension values are computed once and counted per hour (UTC); the day counts
    are sums of the hour counts, since an hour lies within one day. Minute counts come from a
    scan of the same events that keeps only the recent ones (MINUTE_WINDOW).
    """
    signals, params = _signals()
    # unnest(names, values) turns an event into its (dimension, value) rows at half the cost of
    # a VALUES list joined laterally.
    dimensions = _unnest([*DIMENSIONS, *["signal"] * len(signals)], [*DIMENSIONS.values(), *signals])
    minute_dimensions = _unnest(MINUTE_DIMENSIONS, [DIMENSIONS[name] for name in MINUTE_DIMENSIONS])
    in_range = f"audit_event.seq > {int(after)} AND audit_event.seq <= {int(last)}"
    sql = (
        "WITH per_hour AS ("
        f"SELECT date_trunc('hour', occurred_at, 'UTC') AS hour, {_DIMENSION_NAME} AS dimension, d.value, count(*) AS n"
        f" FROM audit_event CROSS JOIN LATERAL {dimensions} AS d (dimension, value)"
        f" WHERE {in_range} AND d.value IS NOT NULL GROUP BY 1, 2, 3) "
        "SELECT hour, 'hour', dimension, value, n FROM per_hour "
        "UNION ALL SELECT date_trunc('day', hour, 'UTC'), 'day', dimension, value, sum(n)::bigint FROM per_hour"
        " GROUP BY 1, 3, 4 "
        f"UNION ALL SELECT date_trunc('minute', occurred_at, 'UTC'), 'minute', {_DIMENSION_NAME}, d.value, count(*)"
        f" FROM audit_event CROSS JOIN LATERAL {minute_dimensions} AS d (dimension, value)"
        f" WHERE {in_range} AND occurred_at >= now() - interval '{MINUTE_WINDOW}' AND d.value IS NOT NULL"
        " GROUP BY 1, 3, 4"
    )
    return sql, params


# Rows are written sorted, so two writers (ingest and a catch-up) lock them in the same order
# and cannot deadlock on each other.
_UPSERT = (
    "INSERT INTO audit_rollup_bucket (bucket_start, granularity, dimension, value, count) "
    "SELECT * FROM counts {condition} ORDER BY 2, 3, 1, 4 "
    "ON CONFLICT (granularity, dimension, bucket_start, value) "
    "DO UPDATE SET count = audit_rollup_bucket.count + EXCLUDED.count"
)

# Batches above this many events aggregate more groups than the default work_mem holds.
_LARGE_RANGE = 5_000


def _count_range(cursor, *, after: int, last: int, if_state_at: int | None = None) -> None:
    """Add the counts of the stored events with after < seq <= last.

    With `if_state_at`, in the same statement: move RollupState from that seq to `last`, and
    count only if it was there.
    """
    counting, params = _counting_sql(after, last)
    if last - after > _LARGE_RANGE:
        cursor.execute("SET LOCAL work_mem = '64MB'")
    if if_state_at is None:
        sql = f"WITH counts AS ({counting}) " + _UPSERT.format(condition="")
        cursor.execute(sql, params)
    else:
        sql = (
            "WITH state AS (UPDATE audit_rollup_state SET seq = %s WHERE id = 1 AND seq = %s RETURNING id), "
            f"counts AS ({counting}) " + _UPSERT.format(condition="WHERE EXISTS (SELECT 1 FROM state)")
        )
        cursor.execute(sql, [last, if_state_at, *params])


def rollups_apply(cursor, *, head_seq: int, last_seq: int) -> None:
    """Count a batch chain_append just stored (seqs head_seq+1 .. last_seq), in its transaction.

    One statement: it moves RollupState from head_seq to last_seq and adds the counts only if
    the state was at head_seq. While a catch-up has not reached the head yet nothing is
    counted here: the catch-up will count these events too, from the events table. (The
    UPDATE waits for a catch-up chunk holding the row, then re-checks the condition.)
    """
    if last_seq > head_seq:
        _count_range(cursor, after=head_seq, last=last_seq, if_state_at=head_seq)


def rollups_catch_up(*, chunk: int = 20_000, limit: int | None = None) -> int:
    """Count the stored events the rollups do not count yet (after RollupState.seq).

    Each chunk is its own transaction holding the state row's lock, never the chain head's,
    so ingest keeps going meanwhile (an append waits for the chunk only at its rollup step).
    Returns the number of events counted. Then counts the per-actor rollups up to the head too
    (actor_rollups_catch_up, the same `chunk` and `limit`): the worker's periodic catch-up and
    seed_demo's follower keep both current with this one call.
    """
    done = global_rollups_catch_up(chunk=chunk, limit=limit)
    actor_rollups_catch_up(chunk=chunk, limit=limit)
    return done


def global_rollups_catch_up(*, chunk: int = 20_000, limit: int | None = None) -> int:
    """rollups_catch_up without the per-actor rollups: the events counted."""
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
            size = chunk if limit is None else min(chunk, limit - done)
            found, last = _next_range(cursor, start, size)
            if not found:
                return done
            _count_range(cursor, after=start, last=last)
            cursor.execute("UPDATE audit_rollup_state SET seq = %s WHERE id = 1", [last])
            done += found
        if found < size:
            return done
    return done


def _next_range(cursor, start: int, size: int) -> tuple[int, int | None]:
    """How many of the next `size` events after seq `start` there are, and the last one's seq."""
    cursor.execute(
        "SELECT count(*), max(seq) FROM (SELECT seq FROM audit_event WHERE seq > %s ORDER BY seq LIMIT %s) AS s",
        [start, size],
    )
    return cursor.fetchone()


# --- per actor ---------------------------------------------------------------------------------
#
# A user who sees only some actors' events (own events, a team's) cannot use the counts above.
# audit_rollup_actor holds the same counts split by who the actor is, keyed the way the
# visibility rule matches a person: UPPER(actor_id) and UPPER(actor_email). They are counted by
# the worker's catch-up, in large chunks, never at ingest: under the chain-head lock they would
# add some 160 rows a batch of 500 events (one per actor and value) and one per resource, more
# than the counts above cost. The dashboard adds the events after ActorRollupState.seq from the
# events table (apps.dashboard.reads), so what it shows is exact however far behind they are.

# The dashboard's panels for a limited scope. Resources only per day: they are nearly one per
# event, and the 24-hour view counts its resources from the events table (a day of one actor).
ACTOR_DIMENSIONS = ("all", "category", "action", "outcome", "actor", "resource")
ACTOR_DAY_ONLY = ("resource",)


def _actor_counting_sql(after: int, last: int) -> tuple[str, list]:
    """(bucket_start, granularity, actor_id, actor_email, dimension, value, count) of the events
    with after < seq <= last that name an actor, and its parameters."""
    signals, params = _signals()
    dimensions = _unnest([*ACTOR_DIMENSIONS, *["signal"] * len(signals)],
                         [*(DIMENSIONS[name] for name in ACTOR_DIMENSIONS), *signals])
    day_only = ", ".join(repr(prefix + name) for name in ACTOR_DAY_ONLY for prefix in ("", CONSOLE_PREFIX))
    sql = (
        "WITH per_hour AS ("
        "SELECT date_trunc('hour', occurred_at, 'UTC') AS hour, upper(actor_id) AS actor_id,"
        f" upper(actor_email) AS actor_email, {_DIMENSION_NAME} AS dimension, d.value, count(*) AS n"
        f" FROM audit_event CROSS JOIN LATERAL {dimensions} AS d (dimension, value)"
        f" WHERE audit_event.seq > {int(after)} AND audit_event.seq <= {int(last)}"
        " AND (actor_id <> '' OR actor_email <> '') AND d.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5) "
        f"SELECT hour, 'hour', actor_id, actor_email, dimension, value, n FROM per_hour WHERE dimension NOT IN ({day_only}) "
        "UNION ALL SELECT date_trunc('day', hour, 'UTC'), 'day', actor_id, actor_email, dimension, value, sum(n)::bigint"
        " FROM per_hour GROUP BY 1, 3, 4, 5, 6"
    )
    return sql, params


def actor_rollups_catch_up(*, chunk: int = 50_000, limit: int | None = None) -> int:
    """Count the stored events the per-actor rollups do not count yet (after
    ActorRollupState.seq), a chunk per transaction; the number of events counted.

    The rows are written sorted by their key, so one actor's rows of a chunk lie together and
    the dashboard reads a few pages for them rather than a row on every page.
    """
    done = 0
    while limit is None or done < limit:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO audit_rollup_actor_state (id, seq) VALUES (1, 0) ON CONFLICT DO NOTHING")
            cursor.execute("SELECT seq FROM audit_rollup_actor_state WHERE id = 1 FOR UPDATE")
            start = cursor.fetchone()[0]
            size = chunk if limit is None else min(chunk, limit - done)
            found, last = _next_range(cursor, start, size)
            if not found:
                return done
            counting, params = _actor_counting_sql(start, last)
            if last - start > _LARGE_RANGE:
                cursor.execute("SET LOCAL work_mem = '128MB'")
            cursor.execute(
                f"WITH counts AS ({counting}) "
                "INSERT INTO audit_rollup_actor (bucket_start, granularity, actor_id, actor_email, dimension, value, count) "
                "SELECT * FROM counts ORDER BY 2, 5, 3, 4, 1, 6 "
                "ON CONFLICT (granularity, dimension, actor_id, actor_email, bucket_start, value) "
                "DO UPDATE SET count = audit_rollup_actor.count + EXCLUDED.count",
                params,
            )
            cursor.execute("UPDATE audit_rollup_actor_state SET seq = %s WHERE id = 1", [last])
            done += found
        if found < size:
            return done
    return done


def actor_rollup_seq() -> int:
    """The seq up to which the per-actor rollups count events."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM audit_rollup_actor_state WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else 0


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


def rollup_events_between(start: datetime, end: datetime) -> int:
    """Events of every kind (systems' and the console's) in the hours that meet [start, end), as
    far as the rollups have counted; for sizing a read, not for showing (the edge hours count whole)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(count), 0) FROM audit_rollup_bucket WHERE granularity = 'hour'"
                       " AND dimension IN ('all', %s) AND bucket_start >= %s AND bucket_start < %s",
                       [CONSOLE_PREFIX + "all", floor_time(start, "hour"), end])
        return int(cursor.fetchone()[0])


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
    hours, moment = [], floor_time(start, "hour")
    while moment <= end:
        hours.append(moment)
        moment += timedelta(hours=1)
    return hours
