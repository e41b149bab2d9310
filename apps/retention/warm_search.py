"""Warm search with DuckDB: archived events read in place from their Parquet segments.

For a page of "include archive" (apps.retention.archive_search.archive_page):

1. the segments are pruned by their manifests' time range (oldest and newest event) against
   the bounds of the request and of the condition itself (a top-level `occurred_at` bound of
   the query, the filters or the visibility rule); no other file is opened;
2. DuckDB reads the remaining files (only the columns and row groups the condition needs,
   pruned by Parquet's statistics) with the condition, that is the visibility rule AND the
   query, translated by apps.retention.warm_sql; it counts the matches and returns the first
   offset + limit of them by time;
3. the hot events' page comes from PostgreSQL as before; the two are merged by time;
4. every archived row about to be shown is confirmed by PostgreSQL: the rows are loaded into
   the session's temporary table of archived events and filtered by the same
   `visible_to(principal).filter(condition)` as hot events. A row PostgreSQL does not confirm
   (an edge where DuckDB's text functions differ) sends the whole request to the exact path.

So no archived event is shown that PostgreSQL's visibility rule would not show hot, whatever
DuckDB answers. A condition warm_sql cannot translate (JSON ordering, CIDR ranges) also takes
the exact path: every searchable segment's matching rows loaded into PostgreSQL.
"""
from __future__ import annotations

import threading
from datetime import datetime

import duckdb
import pyarrow as pa
from django.db.models import Q

from apps.retention.warm_sql import q_sql

_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per thread (a connection is not shared between threads), on
    two threads and 1 GB at most: the console's server shares its machine with PostgreSQL."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "1GB"})
        _local.connection = connection
    return connection


def condition_time_bounds(q: Q) -> tuple[datetime | None, datetime | None]:
    """The loosest [start, end] on occurred_at that `q` implies through its top-level ANDs (None
    where it implies none): every event `q` matches lies inside. Used to skip segments."""
    start = end = None
    if q.negated or (q.connector != Q.AND and len(q.children) > 1):
        return None, None
    for child in q.children:
        if isinstance(child, Q):
            low, high = condition_time_bounds(child)
        elif isinstance(child, tuple) and child[0].startswith("occurred_at") and isinstance(child[1], datetime):
            lookup = child[0].partition("__")[2] or "exact"
            low = child[1] if lookup in ("gt", "gte", "exact") else None
            high = child[1] if lookup in ("lt", "lte", "exact") else None
        else:
            continue
        if low is not None and (start is None or low > start):
            start = low
        if high is not None and (end is None or high < end):
            end = high
    return start, end


class WarmResult:
    """The archived side of a page: how many match, and the first rows by time (Arrow)."""

    def __init__(self, total: int, rows: pa.Table):
        self.total, self.rows = total, rows


def warm_rows(*, files: list[str], condition: Q, limit: int, newest_first: bool) -> WarmResult:
    """Count the archived events of `files` matching `condition` (visibility included) and read
    the first `limit` by time, all their columns. Raises Untranslatable."""
    where, params = q_sql(condition)
    if not files:
        return WarmResult(0, pa.table({}))
    relation = "read_parquet(?)"
    direction = "DESC" if newest_first else "ASC"
    connection = _connection()
    total = connection.sql(f"SELECT count(*) FROM {relation} WHERE {where}", params=[files, *params]).fetchall()[0][0]
    if total == 0 or limit == 0:
        return WarmResult(total, pa.table({}))
    # The page's seqs first, from the narrow columns the order and the condition need; then
    # only those rows whole, from only the files that hold them.
    keys = connection.sql(
        f"SELECT seq, filename FROM read_parquet(?, filename = true) "
        f"WHERE {where} ORDER BY occurred_at {direction}, seq {direction} LIMIT ?",
        params=[files, *params, limit]).to_arrow_table()
    seqs = keys.column("seq").to_pylist()
    chosen = sorted(set(keys.column("filename").to_pylist()))
    rows = connection.sql(
        f"SELECT * FROM read_parquet(?) WHERE seq IN (SELECT unnest(?::BIGINT[])) "
        f"ORDER BY occurred_at {direction}, seq {direction}", params=[chosen, seqs]).to_arrow_table()
    return WarmResult(total, rows)


def warm_count(*, files: list[str], condition: Q) -> int:
    """How many archived events of `files` match `condition` (no visibility rule: the caller's
    condition is all). Raises Untranslatable."""
    if not files:
        return 0
    where, params = q_sql(condition)
    return _connection().sql(f"SELECT count(*) FROM read_parquet(?) WHERE {where}",
                             params=[files, *params]).fetchall()[0][0]
