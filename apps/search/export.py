"""Exports of the log: every matching event, streamed, in a file format.

A format is a small function from chunks of events (as `reads.event_export` yields them) to
chunks of text; `FORMATS` names them. CEF, LEEF, syslog or Parquet are one more function and
one more entry each (Parquet would yield bytes, written by pyarrow per chunk as a row group).

Nothing here holds more than one chunk: the reads fetch 2,000 events at a time by keyset, each
format writes them out and lets them go, and the response streams what it yields (an async
iterator under ASGI, where Django would otherwise read a sync iterator whole into a list
before sending it).

CSV columns are DESIGN.md's field names; tags, changes and metadata are JSON in their cells.
Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage
return) get a leading apostrophe, OWASP's advice against CSV injection: an event's text comes
from whoever sent it, and an analyst opens the file in Excel.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.text import slugify

from apps.events.chain import format_ip, format_time, hash_label
from apps.events.models import Event
from apps.search.serialize import event_as_json
from apps.rbac.models import ApiToken
from apps.rbac.roles import EXPORT_EVENTS

# DESIGN.md's event fields, in its order: the CSV header.
CSV_COLUMNS = (
    "seq", "event_id", "occurred_at", "received_at", "action", "category", "outcome", "severity",
    "actor_type", "actor_id", "actor_name", "actor_email", "auth_method", "ip_address",
    "user_agent", "session_id", "resource_type", "resource_id", "resource_name", "project",
    "region", "request_method", "request_path", "status_code", "trace_id", "request_id", "tags",
    "description", "changes", "metadata", "prev_hash", "hash",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_JSON_COLUMNS = ("tags", "changes", "metadata")


# --- who may export --------------------------------------------------------------------------


def can_export(principal) -> bool:
    """May `principal` (an API token or a console user) export raw events?

    A token must be a read or auditor token (its window and projects still limit what it
    sees); a token that acts for a user, and a console user, also need `rbac.export_events`,
    which the Compliance Officer and External Auditor roles do not hold (they see events and
    make reports, but take no raw copy away).
    """
    if isinstance(principal, ApiToken):
        if not principal.is_active or principal.scope not in (ApiToken.Scope.READ, ApiToken.Scope.AUDITOR):
            return False
        if principal.user_id is None:
            return True
        principal = principal.user
    return bool(principal is not None and principal.is_active and principal.has_perm(EXPORT_EVENTS))


# --- formats ---------------------------------------------------------------------------------


def neutralised(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_row(event: Event) -> list[str]:
    values = {
        "seq": str(event.seq),
        "occurred_at": format_time(event.occurred_at),
        "received_at": format_time(event.received_at),
        "ip_address": format_ip(event.ip_address) or "",
        "status_code": "" if event.status_code is None else str(event.status_code),
        "tags": json.dumps(list(event.tags or []), ensure_ascii=False),
        "changes": "" if event.changes is None else json.dumps(event.changes, ensure_ascii=False, sort_keys=True),
        "metadata": json.dumps(event.metadata or {}, ensure_ascii=False, sort_keys=True),
        "prev_hash": hash_label(event.prev_hash),
        "hash": hash_label(event.hash),
    }
    return [neutralised(values[name] if name in values else getattr(event, name)) for name in CSV_COLUMNS]


def csv_chunks(chunks: Iterable[list[Event]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for events in chunks:
        writer.writerows(csv_row(event) for event in events)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _json(event: Event) -> str:
    return json.dumps(event_as_json(event), ensure_ascii=False, cls=DjangoJSONEncoder)


def json_chunks(chunks: Iterable[list[Event]]) -> Iterator[str]:
    """One JSON array of the API's event objects (verification block included)."""
    opened = False
    for events in chunks:
        lines = ",\n".join(_json(event) for event in events)
        yield ("[\n" if not opened else ",\n") + lines
        opened = True
    yield "\n]\n" if opened else "[]\n"


def jsonl_chunks(chunks: Iterable[list[Event]]) -> Iterator[str]:
    """JSON Lines: one event object per line."""
    for events in chunks:
        yield "".join(_json(event) + "\n" for event in events)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    content_type: str
    extension: str
    write: Callable[[Iterable[list[Event]]], Iterator[str]]


FORMATS = {
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", "csv", csv_chunks),
    "json": ExportFormat("json", "application/json", "json", json_chunks),
    "jsonl": ExportFormat("jsonl", "application/x-ndjson", "jsonl", jsonl_chunks),
}


# --- the file --------------------------------------------------------------------------------


def export_filename(*, fmt: ExportFormat, start: datetime | None, end: datetime | None, query: str,
                    now: datetime) -> str:
    """`audit-logs_<from>_<to>[_<query>].<ext>`: the period and the query, in safe ASCII."""

    def stamp(value: datetime) -> str:
        return format_time(value)[:19].replace(":", "").replace("-", "") + "Z"

    parts = ["audit-logs", stamp(start) if start else "beginning", stamp(end) if end else stamp(now)]
    label = slugify(query)[:60].strip("-")
    if label:
        parts.append(label)
    return "_".join(parts) + "." + fmt.extension


def content_disposition(filename: str) -> str:
    # slugify leaves [a-z0-9-] and the stamps add digits, T, Z, _ and .: no quoting needed.
    return f'attachment; filename="{filename}"'


def streamed(chunks: Iterator[str], *, asynchronous: bool) -> Iterator[bytes] | AsyncIterator[bytes]:
    """The chunks as a response body: as they are (WSGI), or an async iterator (ASGI).

    Under ASGI Django reads a sync iterator whole into a list before sending it; handing it an
    async iterator that pulls one chunk at a time (each in the request's sync thread, where the
    database connection lives) keeps the export streaming and its memory constant.
    """
    encoded = (chunk.encode("utf-8") for chunk in chunks)
    if not asynchronous:
        return encoded

    pull = sync_to_async(next, thread_sensitive=True)

    async def body() -> AsyncIterator[bytes]:
        while (chunk := await pull(encoded, None)) is not None:
            yield chunk

    return body()


__all__ = [
    "CSV_COLUMNS", "FORMATS", "ExportFormat", "can_export", "content_disposition", "csv_chunks", "csv_row",
    "export_filename", "json_chunks", "jsonl_chunks", "neutralised", "streamed",
]
