"""CSV: DESIGN.md's field names as the header; tags, changes and metadata as JSON in their cells.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage
return) get a leading apostrophe, OWASP's advice against CSV injection: an event's text comes
from whoever sent it, and an analyst opens the file in Excel. Quoting (RFC 4180, by the csv
module) keeps commas, quotes and line breaks inside their cell.
"""
from __future__ import annotations

import csv as _csv
import io
from collections.abc import Iterator

from apps.events.export_formats.base import FIELDS, Chunks, ExportFormat, text_fields
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


FORMAT = ExportFormat("csv", "CSV", "text/csv; charset=utf-8", "csv", csv_chunks)
