"""Exports of the log: every matching event, streamed, in a file format.

The formats are modules of `apps.search.formats`, one per format behind its registry
`FORMATS` (CSV, JSON, JSON Lines, CEF, LEEF, syslog, Parquet, OCSF, and custom templates);
this module holds what every export shares: who may export, the file name, and the streamed
response body.

Nothing here holds more than one chunk: the reads fetch 2,000 events at a time by keyset, each
format writes them out and lets them go, and the response streams what it yields (an async
iterator under ASGI, where Django would otherwise read a sync iterator whole into a list
before sending it).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime

from asgiref.sync import sync_to_async
from django.utils.text import slugify

from apps.events.chain import format_time
from apps.search.formats import FORMATS, ExportFormat
from apps.search.formats.csv import CSV_COLUMNS, csv_chunks, csv_row, neutralised
from apps.search.formats.json import json_chunks
from apps.search.formats.jsonl import jsonl_chunks
from apps.rbac.models import ApiToken
from apps.rbac.roles import EXPORT_EVENTS


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


# --- the body --------------------------------------------------------------------------------


def export_chunks(fmt: ExportFormat, *, principal, filters, order: str = "oldest", counted=None):
    """The output chunks of an export: read through the visibility rule, written by `fmt`.

    A format with SQL columns (CSV) reads rows PostgreSQL has formatted; the others read events.
    `counted`, if given, wraps the chunks read (a progress counter).
    """
    from apps.search import reads

    wrap = counted or (lambda chunks: chunks)
    if fmt.sql_columns and fmt.write_copy:
        progress = None
        if counted is not None:
            progress = lambda n: list(counted([[None] * n]))  # noqa: E731 (counts n rows)
        return fmt.write_copy(reads.event_export_copy(principal=principal, columns=fmt.sql_columns,
                                                      filters=filters, order=order, progress=progress))
    if fmt.sql_columns and fmt.write_rows:
        return fmt.write_rows(wrap(reads.event_export_rows(principal=principal, columns=fmt.sql_columns,
                                                           filters=filters, order=order)))
    return fmt.write(wrap(reads.event_export(principal=principal, filters=filters, order=order)))


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


def streamed(chunks: Iterator[str | bytes], *, asynchronous: bool) -> Iterator[bytes] | AsyncIterator[bytes]:
    """The chunks as a response body: as they are (WSGI), or an async iterator (ASGI).

    Under ASGI Django reads a sync iterator whole into a list before sending it; handing it an
    async iterator that pulls one chunk at a time (each in the request's sync thread, where the
    database connection lives) keeps the export streaming and its memory constant.
    """
    encoded = (chunk.encode("utf-8") if isinstance(chunk, str) else chunk for chunk in chunks)
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
