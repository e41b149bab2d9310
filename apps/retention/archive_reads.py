"""Reading archived events: segment files loaded into a temporary table of the session.

The table has the events table's columns (and its generated search_text), so a segment's
events are filtered by the same query language and the same visibility rule as hot events,
through the unmanaged model ArchivedEvent: `ArchivedEvent.objects.visible_to(user).filter(q)`.
Used for legal holds (does a hold match anything in this segment?) and for "include archive"
searches. Callers stay inside one transaction: the table is dropped at its commit.
"""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from apps.retention.segments import COLUMNS

TABLE = "retention_archived_event"
_LOAD = "retention_archived_load"


def archive_table_create() -> None:
    """The empty temporary table (dropped at the end of the caller's transaction)."""
    assert connection.in_atomic_block, "archived events are loaded inside a transaction"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(f"DROP TABLE IF EXISTS {_LOAD}")
        cursor.execute(f"CREATE TEMP TABLE {TABLE} (LIKE audit_event INCLUDING GENERATED INCLUDING DEFAULTS) ON COMMIT DROP")
        columns = ", ".join(f"{name} text" if name not in ("seq",) else "seq bigint" for name in COLUMNS)
        cursor.execute(f"CREATE TEMP TABLE {_LOAD} ({columns}) ON COMMIT DROP")


def archive_table_load(table: pa.Table) -> int:
    """Append a segment's rows to the temporary table. Returns how many."""
    if table.num_rows == 0:
        return 0
    columns = []
    for name in COLUMNS:
        column = table.column(name)
        if name in ("prev_hash", "hash"):
            column = pa.array([value.hex() for value in column.to_pylist()], pa.string())
        elif name in ("occurred_at", "received_at"):
            column = column.cast(pa.int64())
        columns.append(column)
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table(columns, names=list(COLUMNS)), buffer,
                    write_options=pacsv.WriteOptions(include_header=False))
    casts = {
        # Exact to the microsecond (to_timestamp goes through a double).
        "occurred_at": "'epoch'::timestamptz + occurred_at::bigint * interval '1 microsecond'",
        "received_at": "'epoch'::timestamptz + received_at::bigint * interval '1 microsecond'",
        "ip_address": "ip_address::inet", "status_code": "status_code::integer",
        "tags": "ARRAY(SELECT jsonb_array_elements_text(tags::jsonb))",
        "changes": "changes::jsonb", "metadata": "metadata::jsonb",
        "prev_hash": "decode(prev_hash, 'hex')", "hash": "decode(hash, 'hex')",
    }
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_LOAD}")
        with cursor.cursor.copy(f"COPY {_LOAD} FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) SELECT {', '.join(casts.get(n, n) for n in COLUMNS)} FROM {_LOAD}")
        return cursor.rowcount
