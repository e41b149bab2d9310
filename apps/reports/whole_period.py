"""The figures of every event of a period, without grouping every event.

A report's summary (the item `time = all`) counts every event of its period. Put through the
report's grouping (apps.reports.tallies.scan_tallies), 10 million events take minutes; yet when
the report's events ARE the period's events (its requester sees every event, and it has no
query and no subject), most of those figures are kept already:

- the events, and their counts per day (or hour), action, outcome and severity: the
  dashboard's rollups (apps.events.rollups), which count every committed event exactly, per
  day and per hour, under the same UTC buckets. They count the events up to RollupState.seq;
  the events they cannot give (appended after that seq, or in a part of a day or hour that
  the period cuts) are counted from the events table, by the same grouping, and added.
- the actors: a GROUP BY actor_id that PostgreSQL answers from the (actor_id, occurred_at)
  index alone.
- the resources (how many, and the top ones): a GROUP BY resource_type, resource_id read in
  the order of the (resource_type, resource_id, occurred_at) index, so that the groups
  stream out of the index one after another, with no hash table of millions of groups.

All of it is read in the caller's transaction, from one snapshot (figures.items_figures makes it
REPEATABLE READ), so the rollups, their seq and the events table agree. Before the figures are
used they are checked against each other: the rollups' total, the actors' total and the
resources' total must be the same number of events, and so must the sums per action, outcome
and severity. If anything disagrees (rollups rebuilt meanwhile, or counting something else),
every figure is counted from the events instead, and a warning is logged.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q

from apps.events.rollups import floor_time
from apps.reports.tallies import TOP, Tally, scan_tallies

logger = logging.getLogger(__name__)

# The rollups' dimensions this module reads; each counts an event under the column's value
# as stored ("all": every event under "").
_ROLLED = ("all", "action", "outcome", "severity")


def whole_period_tally(cursor, events, *, start: datetime, end: datetime, step: str, top: int = TOP) -> Tally:
    """The tally of every event in `events` (every event of [start, end), unfiltered)."""
    first, last = _rolled_span(start, end, step)
    cursor.execute("SELECT seq FROM audit_rollup_state WHERE id = 1")
    row = cursor.fetchone()
    rolled_to = row[0] if row else 0
    if not rolled_to or first >= last:
        return scan_tallies(cursor, events, [Q()], step=step, top=top)[0]

    tally = Tally()
    cursor.execute(
        "SELECT dimension, CASE WHEN dimension = 'all' THEN"
        " to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ELSE value END,"
        " sum(count)::bigint FROM audit_rollup_bucket"
        " WHERE granularity = %s AND dimension = ANY(%s) AND bucket_start >= %s AND bucket_start < %s"
        " GROUP BY 1, 2",
        [step, list(_ROLLED), first, last],
    )
    for dimension, key, count in cursor.fetchall():
        if dimension == "all":
            tally.bucket[key] = count
            tally.events += count
        else:
            counts = getattr(tally, dimension)
            counts[key] = counts.get(key, 0) + count
    # What the rollups do not count: events after their seq, and the cut buckets at the ends.
    rest = events.filter(Q(seq__gt=rolled_to) | Q(occurred_at__lt=first) | Q(occurred_at__gte=last))
    tally.add(scan_tallies(cursor, rest, [Q()], step=step, top=top)[0])

    tally.actor = _actors(cursor, events)
    resources, resources_total, tally.top_resources = _resources(cursor, events, top=top)
    tally.resources = resources
    totals = {"rollups": tally.events, "actors": sum(tally.actor.values()), "resources": resources_total,
              **{name: sum(getattr(tally, name).values()) for name in ("action", "outcome", "severity")}}
    if len(set(totals.values())) != 1:
        logger.warning("report figures: the rollups disagree with the events table (%s); counting the events",
                       totals)
        return scan_tallies(cursor, events, [Q()], step=step, top=top)[0]
    return tally


def _rolled_span(start: datetime, end: datetime, step: str) -> tuple[datetime, datetime]:
    """The whole buckets of the period: [start rounded up, end rounded down) to the step."""
    delta = timedelta(hours=1) if step == "hour" else timedelta(days=1)
    first = floor_time(start, step)
    if first < start:
        first += delta
    return first, floor_time(end, step)


def _actors(cursor, events) -> dict[str, int]:
    inner_sql, params = events.order_by().values("actor_id").query.sql_with_params()
    cursor.execute(f"SELECT x.actor_id, count(*) FROM ({inner_sql}) AS x GROUP BY 1", params)
    return {key: count for key, count in cursor.fetchall()}


def _resources(cursor, events, *, top: int) -> tuple[int, int, list[tuple[str, int]]]:
    """(resources touched, events counted, top resources) with the report's resource key
    "type:id" (NULL when both are empty).

    Grouped by (resource_type, resource_id), the index's order. That is the key's grouping as
    long as no resource type holds a ':' (then "a:b" + "c" and "a" + "b:c" would be one key);
    if one does, the events are grouped by the key itself.
    """
    inner_sql, params = events.order_by().values("resource_type", "resource_id").query.sql_with_params()
    key = "NULLIF(x.resource_type || ':' || x.resource_id, ':')"
    for grouping, ambiguous in (("x.resource_type, x.resource_id", "bool_or(strpos(x.resource_type, ':') > 0)"),
                                ("1", "false")):
        cursor.execute(f"""
            WITH r AS MATERIALIZED (
                SELECT {key} AS k, count(*) AS n, {ambiguous} AS ambiguous FROM ({inner_sql}) AS x GROUP BY {grouping}
            )
            SELECT 'total', '', count(k), coalesce(sum(n), 0)::bigint, coalesce(bool_or(ambiguous), false) FROM r
            UNION ALL (SELECT 'top', k, n, 0, false FROM r WHERE k IS NOT NULL ORDER BY n DESC, k LIMIT {int(top)})
        """, params)
        rows = cursor.fetchall()
        total = next(row for row in rows if row[0] == "total")
        if not total[4]:
            return total[2], total[3], [(row[1], row[2]) for row in rows if row[0] == "top"]
    raise AssertionError("unreachable: the second grouping is never ambiguous")
