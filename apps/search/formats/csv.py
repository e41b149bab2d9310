"""CSV: DESIGN.md's field names as the header; tags, changes and metadata as JSON in their cells.

Three writers give the same cells: `csv_chunks` from events (pure, event by event);
`csv_rows_chunks` from rows whose cells PostgreSQL wrote as text (`SQL_COLUMNS`: times as
hashed, addresses, JSON, hashes); and `csv_copy_chunks`, which exports use, relaying what
PostgreSQL's own `COPY ... WITH (FORMAT csv)` writes of `COPY_COLUMNS` (the same cells, formula
neutralisation done in SQL), chunk by chunk: building a model and formatting it per row was most
of an export's time (bench/exports.py). COPY ends lines with LF where the csv module writes CRLF
(both RFC 4180 readers take), and JSON cells keep jsonb's key order: the same JSON.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage
return) get a leading apostrophe, OWASP's advice against CSV injection: an event's text comes
from whoever sent it, and an analyst opens the file in Excel. Quoting (RFC 4180, by the csv
module) keeps commas, quotes and line breaks inside their cell.
"""
from __future__ import annotations

import csv as _csv
import io
from collections.abc import Iterator

from django.db.models import F, Func, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Concat

from apps.search.formats.base import FIELDS, Chunks, ExportFormat, text_fields
from apps.events.models import Event

CSV_COLUMNS = FIELDS
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_row(event: Event) -> list[str]:
    values = text_fields(event)
    return [neutralised(values[name]) for name in CSV_COLUMNS]


def csv_chunks(chunks: Chunks) -> Iterator[str]:
    buffer = io.StringIO()
    writer = _csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for events in chunks:
        writer.writerows(csv_row(event) for event in events)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _sql(expression: str):
    return RawSQL(expression, [], output_field=TextField())


_TIME_SQL = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
SQL_COLUMNS = {
    name: (Cast(F(name), TextField()) if name in ("seq", "status_code")
           else _sql(_TIME_SQL.format(f"audit_event.{name}")) if name in ("occurred_at", "received_at")
           else _sql("host(audit_event.ip_address)") if name == "ip_address"
           else _sql("to_json(audit_event.tags)::text") if name == "tags"
           else _sql("audit_event.changes::text") if name == "changes"
           else _sql("coalesce(audit_event.metadata, '{}'::jsonb)::text") if name == "metadata"
           else Concat(Value("sha256:"), _sql(f"encode(audit_event.{name}, 'hex')"), output_field=TextField())
           if name in ("prev_hash", "hash")
           else F(name))
    for name in FIELDS
}


# A leading =, +, -, @, tab or CR gets an apostrophe in front. Only cells that can hold text from a
# client are checked (times, addresses, JSON and hashes cannot start so), with a CASE over the
# bare column, which costs far less per cell than a regular expression.
_NEUTRALISED_SQL = ("CASE WHEN left(%(expressions)s, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') "
                    "THEN '''' || %(expressions)s ELSE %(expressions)s END")
_FORMATTED = {"occurred_at", "received_at", "ip_address", "tags", "changes", "metadata", "prev_hash", "hash", "seq"}


class _Neutralised(Func):
    template = _NEUTRALISED_SQL
    output_field = TextField()


def _neutralised_sql(name: str, expression):
    """The cell `name` as text, a formula neutralised by PostgreSQL (the rule of `neutralised`)."""
    return expression if name in _FORMATTED else _Neutralised(expression)


# What COPY writes: every cell text, formula cells neutralised.
COPY_COLUMNS = {name: _neutralised_sql(name, expression) for name, expression in SQL_COLUMNS.items()}


def csv_copy_chunks(blocks) -> Iterator[bytes]:
    """The header, then the blocks `COPY ... WITH (FORMAT csv)` wrote (reads.event_export_copy)."""
    yield (",".join(CSV_COLUMNS) + "\r\n").encode()
    yield from blocks


def csv_rows_chunks(chunks) -> Iterator[str]:
    """CSV from chunks of rows of SQL_COLUMNS (apps.search.reads.event_export_rows)."""
    buffer = io.StringIO()
    writer = _csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    starts = _FORMULA_STARTS
    for rows in chunks:
        writer.writerows([("'" + cell if cell and cell.startswith(starts) else cell or "") for cell in row]
                         for row in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


FORMAT = ExportFormat("csv", "CSV", "text/csv; charset=utf-8", "csv", csv_chunks,
                      sql_columns=COPY_COLUMNS, write_copy=csv_copy_chunks)
