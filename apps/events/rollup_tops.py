"""The top values of a dimension with very many values, read from the rollups without summing
every row (the threshold algorithm); the dashboard's top actors and resources of the whole log.
"""
from __future__ import annotations

from datetime import datetime

from django.db import connection

from apps.events import rollups

# How deep the threshold algorithm first reads each bucket's largest counts, and the depth past
# which it gives up and sums every row as rollups.rollup_top does.
_TOP_FIRST_DEPTH = 50
_TOP_MAX_DEPTH = 3200
# Past this many buckets holding counts, summing every row is simpler.
_TOP_MAX_BUCKETS = 800

# The buckets holding counts from `start` on, one index lookup each (a loose index scan).
_BUCKETS = """
WITH RECURSIVE bucket (bucket_start) AS (
    SELECT min(bucket_start) FROM audit_rollup_bucket WHERE granularity = %s AND dimension = %s AND bucket_start >= %s
    UNION ALL
    SELECT (SELECT min(r.bucket_start) FROM audit_rollup_bucket AS r
            WHERE r.granularity = %s AND r.dimension = %s AND r.bucket_start > bucket.bucket_start)
    FROM bucket WHERE bucket.bucket_start IS NOT NULL
)
SELECT bucket_start FROM bucket WHERE bucket_start IS NOT NULL
"""
_BUCKET_TOPS = """
SELECT b.bucket_start, t.value, t.count
FROM unnest(%s::timestamptz[]) AS b(bucket_start)
CROSS JOIN LATERAL (
    SELECT value, count FROM audit_rollup_bucket
    WHERE granularity = %s AND dimension = %s AND bucket_start = b.bucket_start
    ORDER BY count DESC LIMIT %s
) AS t
"""

# Each (bucket, candidate) pair is one lookup of the rollups' unique key.
_CANDIDATE_TOTALS = """
SELECT r.value, sum(r.count) AS n
FROM unnest(%s::timestamptz[]) AS b(bucket_start)
CROSS JOIN unnest(%s::text[]) AS c(value)
JOIN audit_rollup_bucket AS r
  ON r.granularity = %s AND r.dimension = %s AND r.bucket_start = b.bucket_start AND r.value = c.value
GROUP BY r.value ORDER BY n DESC, r.value LIMIT %s
"""


def rollup_top_bounded(*, granularity: str, dimension: str, start: datetime, limit: int) -> list[tuple[str, int]]:
    """The same answer as rollups.rollup_top (the `limit` values with the most events from
    `start` on, most first, ties by value), without summing every value's buckets.

    Some dimensions have nearly as many values as events (most resources appear in one event),
    so summing a 30-day window reads a row per value and day: millions at 10M events. This is
    the threshold algorithm (Fagin, Lotem and Naor, "Optimal aggregation algorithms for
    middleware", 2001): read only the `depth` largest counts of each bucket. A value in none of
    those lists has, in each bucket, at most the smallest count of that bucket's list (nothing
    if the list holds all of the bucket), so in all at most the sum of those, `unseen_bound`.
    The values seen that could still reach the top are summed exactly over every bucket; when
    the `limit`-th of them is above `unseen_bound`, no unseen value can be in the top or tie
    with it, and the answer is exact. Otherwise the lists are read deeper; past _TOP_MAX_DEPTH
    (counts spread evenly over many values, where no bound prunes) every row is summed.
    """
    with connection.cursor() as cursor:
        cursor.execute(_BUCKETS, [granularity, dimension, start, granularity, dimension])
        buckets = [bucket for (bucket,) in cursor.fetchall()]
        if not buckets:
            return []
        depth = _TOP_FIRST_DEPTH
        while depth <= _TOP_MAX_DEPTH and len(buckets) <= _TOP_MAX_BUCKETS:
            cursor.execute(_BUCKET_TOPS, [buckets, granularity, dimension, depth])
            lists: dict[datetime, list[tuple[str, int]]] = {}
            for bucket, value, count in cursor.fetchall():
                lists.setdefault(bucket, []).append((value, count))
            # The most a value missing from a bucket's list can have in that bucket.
            floor = {bucket: rows[-1][1] if len(rows) == depth else 0 for bucket, rows in lists.items()}
            unseen_bound = sum(floor.values())
            seen: dict[str, int] = {}          # a value's counts in the lists it is in
            listed_floors: dict[str, int] = {}  # the floors of those lists
            for bucket, rows in lists.items():
                for value, count in rows:
                    seen[value] = seen.get(value, 0) + count
                    listed_floors[value] = listed_floors.get(value, 0) + floor[bucket]
            if unseen_bound == 0:
                # The lists hold every count of the window: the sums are exact, ranked as
                # rollup_top ranks them (ties in the database's order of text).
                cursor.execute("SELECT value, n FROM unnest(%s::text[], %s::bigint[]) AS t(value, n)"
                               " ORDER BY n DESC, value LIMIT %s", [list(seen), list(seen.values()), limit])
                return [(value, int(count)) for value, count in cursor.fetchall()]
            # `limit` values surely reach the `limit`-th largest count seen; a value whose most
            # (its counts seen, plus the floor of every list it is missing from) is below that
            # is not in the top.
            surely = sorted(seen.values(), reverse=True)[limit - 1] if len(seen) >= limit else 0
            candidates = [value for value, count in seen.items()
                          if count + unseen_bound - listed_floors[value] >= surely]
            cursor.execute(_CANDIDATE_TOTALS, [buckets, candidates, granularity, dimension, limit])
            top = [(value, int(count)) for value, count in cursor.fetchall()]
            if len(top) == limit and top[-1][1] > unseen_bound:
                return top
            depth *= 4
    return rollups.rollup_top(granularity=granularity, dimension=dimension, start=start, limit=limit)
