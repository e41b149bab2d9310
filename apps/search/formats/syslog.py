"""Syslog messages of RFC 5424, one per line in a file (streams frame them by RFC 5425).

    <PRI>1 TIMESTAMP HOSTNAME auditconsole - MSGID [audit@32473 seq="..." ...] BOM description

- PRI: facility 13 ("log audit") * 8 + a severity from ours (critical 2, high 3, medium 4,
  low 5, info 6).
- TIMESTAMP: occurred_at, RFC 3339 in UTC with microseconds.
- HOSTNAME: this console's host name; MSGID: the action, cut to 32 printable ASCII characters
  (anything else becomes `_`), or `-`.
- STRUCTURED-DATA: one element `audit@32473` (32473 is the enterprise number RFC 5612 reserves
  for documentation; change ENTERPRISE_ID to your own) with the event's fields as parameters.
  Parameter values escape `"`, `\\` and `]` with a backslash, as RFC 5424 section 6.3.3 asks.
- MSG: a UTF-8 BOM, then the description.

A line break inside a value or the message would split the message in a file (and in LF
framing), so carriage returns and line feeds are written as `\\r` and `\\n` (and other control
characters as `\\uXXXX`); RFC 5424 parsers keep a backslash before any other character as it is.
"""
from __future__ import annotations

import re
import socket
from datetime import timezone as dt_timezone
from functools import lru_cache

from apps.events.chain import format_ip, format_time, hash_label
from apps.search.formats.base import ExportFormat, lines
from apps.events.models import Event

FACILITY_LOG_AUDIT = 13
ENTERPRISE_ID = 32473
SD_ID = f"audit@{ENTERPRISE_ID}"
APP_NAME = "auditconsole"
BOM = "\ufeff"
SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")


def _control_escaped(value: str) -> str:
    return _CONTROL.sub(lambda m: {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(m.group(), f"\\u{ord(m.group()):04x}"),
                        value)


def sd_value_escaped(value: str) -> str:
    return _control_escaped(value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]"))


def header_token(value: str, limit: int) -> str:
    """A header field of RFC 5424: printable ASCII without spaces, at most `limit` characters, or `-`."""
    return _NOT_PRINTUSASCII.sub("_", value)[:limit] or "-"


@lru_cache(maxsize=1)
def hostname() -> str:
    return header_token(socket.gethostname(), 255)


def _params(event: Event) -> list[tuple[str, str]]:
    pairs = [
        ("seq", str(event.seq)), ("event_id", event.event_id), ("action", event.action),
        ("category", event.category), ("outcome", event.outcome), ("severity", event.severity),
        ("actor_type", event.actor_type), ("actor_id", event.actor_id), ("actor_name", event.actor_name),
        ("actor_email", event.actor_email), ("ip_address", format_ip(event.ip_address) or ""),
        ("resource_type", event.resource_type), ("resource_id", event.resource_id),
        ("resource_name", event.resource_name), ("project", event.project), ("region", event.region),
        ("request_method", event.request_method), ("request_path", event.request_path),
        ("status_code", "" if event.status_code is None else str(event.status_code)),
        ("trace_id", event.trace_id), ("received_at", format_time(event.received_at)),
        ("hash", hash_label(event.hash)),
    ]
    return [(name, value) for name, value in pairs if value]


def render(event: Event) -> str:
    pri = FACILITY_LOG_AUDIT * 8 + SEVERITY.get(event.severity, 6)
    timestamp = format_time(event.occurred_at.astimezone(dt_timezone.utc))
    params = " ".join(f'{name}="{sd_value_escaped(value)}"' for name, value in _params(event))
    structured = f"[{SD_ID} {params}]"
    header = f"<{pri}>1 {timestamp} {hostname()} {APP_NAME} - {header_token(event.action, 32)}"
    message = (" " + BOM + _control_escaped(event.description)) if event.description else ""
    return f"{header} {structured}{message}"


FORMAT = ExportFormat("syslog", "Syslog (RFC 5424)", "text/plain; charset=utf-8", "log", lines(render), render=render)
