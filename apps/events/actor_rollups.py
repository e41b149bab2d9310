"""Reads of the per-actor rollups (audit_rollup_actor), for users who see only some actors.

A Regular User sees the events they are the actor of, a Manager those of their teams' members
too (apps.rbac.scoping). Counting those from the events table reads every event of those
actors in the window, scattered over the table: 10 s for a 30-day dashboard of a busy actor at
10 million events. The per-actor rollups hold the same counts, keyed by UPPER(actor_id) and
UPPER(actor_email) (apps.events.rollups.actor_rollups_catch_up).

They stand in for the events table only when they give exactly what the visibility rule
gives. `actor_keys` reads the rule's own condition (event_scope): when it is nothing but
"actor_id iexact X" and "actor_email iexact Y" joined by OR, the visible events are exactly
the rows whose actor_id is UPPER(X) or whose actor_email is UPPER(Y), the same UPPER the rule's
iexact compares with. Anything else (a role limited to projects or to a time window, a token,
a rule that changes later) is not recognised, and the dashboard counts from the events table.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone as dt_timezone

from django.db import connection
from django.db.models import Q

_LOOKUPS = {"actor_id__iexact": 0, "actor_email__iexact": 1}


def actor_keys(scope: Q) -> tuple[list[str], list[str]] | None:
    """(usernames, emails) when `scope` is exactly "actor is one of these people", else None."""
    found: tuple[list[str], list[str]] = ([], [])

    def walk(node) -> bool:
        if isinstance(node, Q):
            if node.negated or (len(node.children) > 1 and node.connector != Q.OR):
                return False
            return all(walk(child) for child in node.children)
        if isinstance(node, tuple) and len(node) == 2 and node[0] in _LOOKUPS:
            value = node[1]
            if not isinstance(value, str) or not value:
                return False
            found[_LOOKUPS[node[0]]].append(value)
            return True
        return False

    if not scope.children or not walk(scope):
        return None
    return found


# Pairs (actor_id, actor_email) of the rollups that the people match, the way the rule matches:
# UPPER(column) = UPPER(value). Read from the day totals: a few rows per actor and day.
_PAIRS = """
SELECT DISTINCT actor_id, actor_email FROM audit_rollup_actor
WHERE granularity = 'day' AND dimension IN ('all', 'console:all') AND bucket_start >= %s
  AND (actor_id = ANY(ARRAY(SELECT upper(x) FROM unnest(%s::text[]) AS x))
       OR actor_email = ANY(ARRAY(SELECT upper(x) FROM unnest(%s::text[]) AS x)))
"""

_ROWS = """
FROM unnest(%s::text[], %s::text[]) AS p (actor_id, actor_email)
JOIN audit_rollup_actor AS r
  ON r.granularity = %s AND r.dimension = %s AND r.actor_id = p.actor_id AND r.actor_email = p.actor_email
 AND r.bucket_start >= %s
"""


class ActorRollups:
    """The rollups of the actors some people are, from `start` on."""

    def __init__(self, *, usernames: Iterable[str], emails: Iterable[str], since: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute(_PAIRS, [since, list(usernames), list(emails)])
            pairs = cursor.fetchall()
        self.ids = [actor_id for actor_id, _ in pairs]
        self.emails = [actor_email for _, actor_email in pairs]

    def series(self, *, granularity: str, start: datetime, dimension: str = "all") -> dict[datetime, int]:
        """Events per bucket (`console:all`: the console's own records per bucket)."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT r.bucket_start, sum(r.count) {_ROWS} GROUP BY 1",
                           [self.ids, self.emails, granularity, dimension, start])
            return {bucket: int(count) for bucket, count in cursor.fetchall()}

    def top(self, *, granularity: str, dimension: str, start: datetime, limit: int | None,
            plus: Iterable[tuple[str, int]] = ()) -> list[tuple[str, int]]:
        """The values with the most events, most first (ties by value), counting `plus` (counts
        of events the rollups do not hold yet) in."""
        plus = list(plus)
        sql = (f"SELECT value, sum(n) AS n FROM (SELECT r.value, r.count AS n {_ROWS}"
               " UNION ALL SELECT * FROM unnest(%s::text[], %s::bigint[])) AS t"
               " GROUP BY value ORDER BY n DESC, value")
        params = [self.ids, self.emails, granularity, dimension, start,
                  [value for value, _ in plus], [count for _, count in plus]]
        if limit:
            sql += " LIMIT %s"
            params.append(limit)
        with connection.cursor() as cursor:
            if dimension.endswith("resource"):
                # A team's 30 days of resources are some 160,000 values at 10M events: their sums
                # spill to disk in 21 batches with the default work_mem (4MB). The dashboard's
                # reads are a transaction (dashboard._snapshot), which LOCAL is limited to.
                cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(sql, params)
            return [(value, int(count)) for value, count in cursor.fetchall()]


def tail_counts(events, *, series: str) -> dict[str, list[tuple]]:
    """What the per-actor rollups would hold for `events` (a queryset: the visible events after
    their seq): for each dimension, [(value, count)], and under "series", [(bucket, count)] by
    `series` ("hour" or "day").

    One statement over those events, with the rollups' own expressions for each dimension
    (apps.events.rollups.DIMENSIONS and the signals' SQL), so that adding these to the rollups
    gives what the rollups will hold once they count them. Seven queries, one per panel, would
    each read every event after the seq again: with a minute of ingest behind (160,000 events),
    that was seconds.
    """
    from apps.events import rollups

    signals, params = rollups._signals()
    names = [*rollups.ACTOR_DIMENSIONS, *["signal"] * len(signals), "series"]
    bucket = f"to_char(date_trunc('{'day' if series == 'day' else 'hour'}', occurred_at, 'UTC'), 'YYYY-MM-DD HH24')"
    expressions = [*(rollups.DIMENSIONS[name] for name in rollups.ACTOR_DIMENSIONS), *signals, bucket]
    query = events.query
    if len(query.alias_map) != 1:
        raise ValueError("tail_counts: the condition must read audit_event alone")
    condition, condition_params = query.get_compiler(connection=connection).compile(query.where)
    sql = ("SELECT d.dimension, d.value, count(*) FROM audit_event"
           f" CROSS JOIN LATERAL {rollups._unnest(names, expressions)} AS d (dimension, value)"
           f" WHERE ({condition}) AND d.value IS NOT NULL GROUP BY 1, 2")
    found: dict[str, list[tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *condition_params])
        for dimension, value, count in cursor.fetchall():
            if dimension == "series":
                value = datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=dt_timezone.utc)
            found.setdefault(dimension, []).append((value, count))
    return found
