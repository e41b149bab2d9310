"""OpenTelemetry logs: OTLP/HTTP JSON (`{"resourceLogs": [{"resource", "scopeLogs": [{"scope",
"logRecords": [...]}]}]}`), a whole export request per file or one per line.

Each log record is one event; its record for mapping is `{"resource", "scope", "logRecord"}`,
kept whole in metadata, with the attributes also flattened for searching
(`metadata.attributes["user.id"]`, `metadata.resourceAttributes["service.name"]`).
Action from `eventName` or the `event.name` attribute (else `otel.log`); actor from `user.id`,
`user.name`, `user.email` (or the older `enduser.id`); IP from `client.address` or
`source.address`; outcome from `event.outcome` (else an ERROR or FATAL severity is an error);
time from `timeUnixNano` (else `observedTimeUnixNano`); trace and span ids kept.
"""
from __future__ import annotations

from datetime import datetime, timezone

from apps.importers.formats.base import Refused, action_part, event_id, ip_or_none, text

NAME = "otel"
LABEL = "OpenTelemetry logs (OTLP/HTTP JSON)"
HINT = 'OTLP/HTTP JSON export requests ({"resourceLogs": [...]}), whole or one per line'


def records(document) -> list | None:
    if not isinstance(document, dict) or not isinstance(document.get("resourceLogs"), list):
        return None
    found = []
    for resource_logs in document["resourceLogs"]:
        scopes = resource_logs.get("scopeLogs") if isinstance(resource_logs, dict) else None
        if not isinstance(scopes, list):
            found.append(resource_logs)  # refused when mapped: not a resourceLogs entry
            continue
        for scope_logs in scopes:
            log_records = scope_logs.get("logRecords") if isinstance(scope_logs, dict) else None
            if not isinstance(log_records, list):
                found.append(scope_logs)
                continue
            for log_record in log_records:
                found.append({"resource": resource_logs.get("resource") or {}, "scope": scope_logs.get("scope") or {},
                              "logRecord": log_record})
    return found


def looks_like(record) -> bool:
    return isinstance(record, dict) and isinstance(record.get("logRecord"), dict)


def _any_value(value):
    """An OTLP AnyValue as plain JSON."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "arrayValue" in value:
        values = value["arrayValue"].get("values") if isinstance(value["arrayValue"], dict) else None
        return [_any_value(v) for v in values] if isinstance(values, list) else None
    if "kvlistValue" in value:
        values = value["kvlistValue"].get("values") if isinstance(value["kvlistValue"], dict) else None
        return _attributes(values)
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items) -> dict:
    flat = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            flat[item["key"]] = _any_value(item.get("value"))
    return flat


def _nanos(value) -> datetime | None:
    try:
        nanos = int(value)
    except (TypeError, ValueError):
        return None
    if nanos <= 0:
        return None
    try:
        return datetime.fromtimestamp(nanos / 1e9, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Refused(f"timeUnixNano {value!r} is not a time") from None


def _severity(number) -> str:
    try:
        number = int(number)
    except (TypeError, ValueError):
        return "info"
    return "critical" if number >= 21 else "high" if number >= 17 else "medium" if number >= 13 else "info"


def event_from(record: dict) -> dict:
    log = record.get("logRecord")
    if not isinstance(log, dict):
        raise Refused("not an OTLP log record (resourceLogs[].scopeLogs[].logRecords[] expected)")
    when = _nanos(log.get("timeUnixNano")) or _nanos(log.get("observedTimeUnixNano"))
    if when is None:
        raise Refused("timeUnixNano and observedTimeUnixNano are both missing")
    attributes = _attributes(log.get("attributes"))
    resource = record.get("resource")
    resource = _attributes(resource.get("attributes") if isinstance(resource, dict) else None)
    get = lambda *keys: next((attributes[k] for k in keys if attributes.get(k) not in (None, "")), None)  # noqa: E731
    name = text(log.get("eventName") or get("event.name"))
    action = ".".join(action_part(p) for p in name.split(".") if p) if name else "otel.log"
    outcome = text(get("event.outcome", "outcome")).lower()
    number = log.get("severityNumber")
    if not outcome:
        outcome = "error" if _severity(number) in ("high", "critical") else "unknown"
    body = _any_value(log.get("body"))
    email = text(get("user.email", "enduser.email"))
    user_id = text(get("user.id", "enduser.id"))
    return {
        "event_id": event_id("otel", get("event.id", "log.record.uid"), record),
        "timestamp": when.isoformat(),
        "action": action,
        "category": text(get("event.category", "category")).lower() or None,
        "outcome": outcome,
        "severity": _severity(number),
        "actor_type": "user" if user_id or email else "service",
        "actor_id": user_id or text(resource.get("service.name")),
        "actor_name": text(get("user.name", "user.full_name")) or user_id,
        "actor_email": email,
        "ip_address": ip_or_none(get("client.address", "source.address", "client.ip")),
        "user_agent": text(get("user_agent.original")),
        "session_id": text(get("session.id")),
        "resource_type": text(get("resource.type")),
        "resource_id": text(get("resource.id")),
        "resource_name": text(get("resource.name")),
        "project": text(get("project") or resource.get("service.namespace")),
        "region": text(resource.get("cloud.region")),
        "request_method": text(get("http.request.method")),
        "request_path": text(get("url.path")),
        "status_code": get("http.response.status_code"),
        "trace_id": text(log.get("traceId")),
        "request_id": text(log.get("spanId")),
        "description": text(body, 10_000) if not isinstance(body, (dict, list)) else "",
        "tags": ["import:otel"],
        "metadata": {**record, "attributes": attributes, "resourceAttributes": resource},
    }
