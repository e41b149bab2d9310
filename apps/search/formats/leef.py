"""IBM QRadar Log Event Extended Format, LEEF 2.0, one event per line.

    LEEF:2.0|AuditConsole|Audit Log Console|1.0|<action>|x09|<key=value TAB key=value ...>

The attribute delimiter is a tab, declared in the header as `x09` (LEEF 2.0 allows one
character or its hex code). Escaping: in header fields a backslash is `\\\\` and a pipe `\\|`,
a line break a space; in attribute values a backslash is `\\\\`, a tab (the delimiter) `\\t`,
a line feed `\\n` and a carriage return `\\r`, so that no value can end its attribute or the
line. `=` needs no escape in a value: a parser splits each attribute at its first `=`, and keys
are fixed names, never taken from the event.

Attributes: devTime (occurred_at) with devTimeFormat, cat, sev (1-10), src, usrName, identSrc
(actor email), resource, url (request path), and our own: eventId, seq, action, outcome,
actorId, actorType, resourceType, resourceId, project, region, traceId, description, hash.
"""
from __future__ import annotations

from datetime import timezone as dt_timezone

from apps.events.chain import format_ip, hash_label
from apps.search.formats.base import PRODUCT, PRODUCT_VERSION, SEVERITY_0_10, VENDOR, ExportFormat, lines
from apps.search.formats.cef import header_escaped
from apps.events.models import Event

DELIMITER = "\t"
DEV_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"


def value_escaped(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\r", "\\r").replace("\n", "\\n"))


def _attributes(event: Event) -> list[tuple[str, str]]:
    occurred = event.occurred_at.astimezone(dt_timezone.utc)
    dev_time = occurred.strftime("%Y-%m-%dT%H:%M:%S.") + f"{occurred.microsecond // 1000:03d}Z"
    pairs = [
        ("devTime", dev_time), ("devTimeFormat", DEV_TIME_FORMAT),
        ("cat", event.category), ("sev", str(SEVERITY_0_10.get(event.severity, 1))),
        ("src", format_ip(event.ip_address) or ""),
        ("usrName", event.actor_name or event.actor_id), ("identSrc", event.actor_email),
        ("resource", event.resource_name or event.resource_id), ("url", event.request_path),
        ("eventId", event.event_id), ("seq", str(event.seq)), ("action", event.action),
        ("outcome", event.outcome), ("actorId", event.actor_id), ("actorType", event.actor_type),
        ("resourceType", event.resource_type), ("resourceId", event.resource_id),
        ("project", event.project), ("region", event.region), ("traceId", event.trace_id),
        ("description", event.description), ("hash", hash_label(event.hash)),
    ]
    return [(key, value) for key, value in pairs if value]


def render(event: Event) -> str:
    header = ["LEEF:2.0", VENDOR, PRODUCT, PRODUCT_VERSION, header_escaped(event.action), "x09"]
    attributes = DELIMITER.join(f"{key}={value_escaped(value)}" for key, value in _attributes(event))
    return "|".join(header) + "|" + attributes


FORMAT = ExportFormat("leef", "LEEF 2.0 (QRadar)", "text/plain; charset=utf-8", "leef", lines(render), render=render)
