"""What every export format is, and the event fields they share."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from apps.events.chain import format_ip, format_time, hash_label
from apps.events.models import Event

Chunks = Iterable[list[Event]]

# DESIGN.md's event fields, in its order (the CSV header, Parquet's columns).
FIELDS = (
    "seq", "event_id", "occurred_at", "received_at", "action", "category", "outcome", "severity",
    "actor_type", "actor_id", "actor_name", "actor_email", "auth_method", "ip_address",
    "user_agent", "session_id", "resource_type", "resource_id", "resource_name", "project",
    "region", "request_method", "request_path", "status_code", "trace_id", "request_id", "tags",
    "description", "changes", "metadata", "prev_hash", "hash",
)


@dataclass(frozen=True)
class ExportFormat:
    """A file format: its name, MIME type, file extension and writer.

    `write` yields `str` chunks, or `bytes` when `binary` is true. `render`, where present, is
    one event as one record (no line end), for streams.
    """

    name: str
    label: str
    content_type: str
    extension: str
    write: Callable[[Chunks], Iterator[str | bytes]]
    binary: bool = False
    render: Callable[[Event], str] | None = None
    # Optional faster path: PostgreSQL writes these columns (name -> expression) and
    # `write_rows` formats chunks of those rows (see apps.search.export.export_chunks).
    sql_columns: dict | None = None
    write_rows: Callable | None = None
    write_copy: Callable | None = None


def lines(render: Callable[[Event], str]) -> Callable[[Chunks], Iterator[str]]:
    """A writer of one rendered event per line (LF), one output chunk per input chunk."""

    def write(chunks: Chunks) -> Iterator[str]:
        for events in chunks:
            yield "".join(render(event) + "\n" for event in events)

    return write


def text_fields(event: Event) -> dict[str, str]:
    """Every field of DESIGN.md as text: times as hashed, JSON for tags/changes/metadata, '' for none."""
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
    return {name: values[name] if name in values else (getattr(event, name) or "") for name in FIELDS}


def epoch_millis(value) -> int:
    return int(value.timestamp() * 1000)


# Our five severities on the 0-10 scales of CEF and LEEF.
SEVERITY_0_10 = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}

VENDOR = "AuditConsole"
PRODUCT = "Audit Log Console"
PRODUCT_VERSION = "1.0"
