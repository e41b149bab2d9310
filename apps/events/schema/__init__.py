"""The event schema: turning what clients send into the stored fields of DESIGN.md.

A package by the shapes it accepts: the flat form here (`normalize_event`), the seeds' nested
objects in `nested`, CloudEvents envelopes in `cloudevents`; `values` checks each value and
`vocabulary` holds the schema's words.

Accepted shapes: the flat and nested forms of the seeds (`actor{}`, `resource{}`, `action` as a
string or as `{operation, status, method}`, `changes`, `metadata.tags`, `details`,
`actor.user_id`), in snake_case or camelCase, and CloudEvents 1.0 envelopes whose `data` is
one of those. Nothing the client sent is dropped: keys with no column of their own are kept
in `metadata` under their original path (`resource.tags.Environment` stays findable as
`metadata.resource.tags.Environment`). Values under configured sensitive keys are redacted.
"""
from __future__ import annotations


from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from ulid import ULID

from apps.events.schema.cloudevents import _is_cloudevent, _unwrap_cloudevent
from apps.events.schema.nested import (
    _TOP_LEVEL_COLUMNS, _lift_from_details, _lift_from_metadata, _take_actor, _take_request, _take_resource,
)
from apps.events.schema.values import (
    _Event, _ip, _json_value, _pick, _snaked, _tags, _text, _timestamp, is_sensitive, sensitive_keys,
)
from apps.events.schema.vocabulary import (
    _ACTION, CATEGORIES, CATEGORY_ALIASES, MAX_SHORT_TEXT, MAX_TEXT, OUTCOMES, REDACTED, RESERVED_ACTION_PREFIX,
    RESERVED_CATEGORY, SEVERITIES, FieldError, snake,
)

def normalize_event(raw, *, index_field: str = "", console: bool = False, now=None) -> dict:
    """Stored fields of one event (without seq, received_at and hashes); FieldError when invalid.

    The `audit` category and the `audit.*` actions are the console's own (RESERVED_CATEGORY):
    only its audit trail passes `console=True`; from anyone else they are refused. `now` is the
    time given to an event sent without one (the very object, so a caller can tell them apart).
    """
    if not isinstance(raw, dict):
        raise FieldError("", "an event must be a JSON object")
    if _is_cloudevent(raw):
        raw = _unwrap_cloudevent(raw)

    out = _Event()
    body, original = _snaked(raw)

    event_id, id_name = _pick(body, "event_id", "id", "uuid", "insert_id", "audit_id")
    if event_id is None and id_name == "event_id":
        # A null id would get a new server id on every retry, storing the event twice.
        raise FieldError("event_id", "is null; send a string, or leave event_id out to have one made")
    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, (str, int))):
        raise FieldError("event_id", "must be a string")
    event_id = _text(event_id, "event_id", 200).strip() if event_id is not None else ""
    out.fields["event_id"] = event_id or f"evt_{ULID()}"

    occurred, name = _pick(body, "timestamp", "occurred_at", "time", "event_time", "published", "created_at")
    out.fields["occurred_at"] = (_timestamp_accepted(_timestamp(occurred, "timestamp"), now) if occurred not in (None, "")
                                 else now or timezone.now())

    # action: a dotted string, or seed 001's {operation, status, method}.
    action, _ = _pick(body, "action")
    event_type, _ = _pick(body, "event_type", "type")
    action_string = ""
    if isinstance(action, dict):
        nested = {snake(k): v for k, v in action.items()}
        status, _ = _pick(nested, "status", "result", "outcome")
        if status is not None:
            out.set("outcome", status)
        for key, value in nested.items():
            out.keep(("action", key), _json_value(value, f"action.{key}", 0, out.sensitive))
    elif action is not None:
        if not isinstance(action, str):
            # A number is not an action name: stored as "5" it would match nothing anyone searches for.
            raise FieldError("action", "must be a string (a dotted name like auth.login) or an object "
                                       "{operation, status, method}")
        action_string = _text(action, "action", 200).strip()
    if not action_string and event_type is not None:
        if not isinstance(event_type, str):
            raise FieldError("event_type", "must be a string (a dotted name like auth.login)")
        action_string = _text(event_type, "event_type", 200).strip()
    elif event_type is not None:
        kept_as = original.get("event_type") or original.get("type") or "event_type"
        out.keep((kept_as,), _json_value(event_type, "event_type", 0, out.sensitive))
    action_string = action_string.lower()
    if not action_string:
        raise FieldError("action", "is required (send `action` or `event_type`, e.g. \"auth.login\")")
    if not _ACTION.match(action_string):
        raise FieldError("action", f"'{action_string[:60]}' is not a dotted action name like auth.login or iam.role.update")
    if not console and (action_string + ".").startswith(RESERVED_ACTION_PREFIX):
        raise FieldError("action", f"'{action_string[:60]}': actions under `{RESERVED_ACTION_PREFIX}` are reserved "
                                   "for the console's own audit trail")
    out.fields["action"] = action_string

    status, status_name = _pick(body, "outcome", "status", "result")
    if status is not None:
        out.set("outcome", status)
    raw_outcome = out.fields.pop("outcome", None)
    if isinstance(raw_outcome, dict):
        # Okta's outcome {result, reason}: the result is the outcome, the rest is kept.
        nested = {snake(k): v for k, v in raw_outcome.items()}
        raw_outcome = nested.pop("result", None)
        for key, value in nested.items():
            out.keep(((status_name or "outcome"), key), _json_value(value, f"outcome.{key}", 0, out.sensitive))
    if raw_outcome is None or raw_outcome == "":
        out.fields["outcome"] = "unknown"
    else:
        text = _text(raw_outcome, "outcome", 100) if not isinstance(raw_outcome, bool) else str(raw_outcome).lower()
        mapped = OUTCOMES.get(text.strip().lower())
        if mapped is None:
            # An outcome we do not recognise is stored as unknown; the original is kept.
            out.keep((status_name or "outcome",), text)
            mapped = "unknown"
        out.fields["outcome"] = mapped

    severity, severity_name = _pick(body, "severity", "level")
    if severity in (None, ""):
        out.fields["severity"] = "info"
    else:
        text = _text(severity, "severity", 100).strip().lower()
        mapped = SEVERITIES.get(text)
        if mapped is None:
            raise FieldError("severity", f"'{text[:40]}' is not one of info, low, medium, high, critical")
        out.fields["severity"] = mapped

    _take_actor(body, out)
    _take_resource(body, out)
    _take_request(body, out)

    fields = out.fields
    for column, names in _TOP_LEVEL_COLUMNS:
        # _pick and out.set, inline: the first of the names present is taken (and removed),
        # even if null, and fills the column unless it is empty or the column is already set.
        for name in names:
            if name in body:
                value = body.pop(name)
                if value is not None and value != "" and value != [] and not fields.get(column):
                    fields[column] = value
                break

    category, _ = _pick(body, "category")
    tags, _ = _pick(body, "tags")
    out.set("tags", _tags(tags, "tags"))
    changes, _ = _pick(body, "changes", "diff")
    metadata, _ = _pick(body, "metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise FieldError("metadata", "must be a JSON object")
    if changes is not None and not isinstance(changes, dict):
        raise FieldError("changes", "must be a JSON object like {\"before\": {...}, \"after\": {...}}")

    # Whatever is left has no column: keep it in metadata under the key the client used.
    for name, value in body.items():
        out.keep((original[name],), _json_value(value, original[name], 0, out.sensitive))

    if metadata:
        metadata = _json_value(metadata, "metadata", 0, out.sensitive)
        _lift_from_metadata(metadata, out)
        for key, value in metadata.items():
            if key in out.metadata and isinstance(out.metadata[key], dict) and isinstance(value, dict):
                out.metadata[key] = {**value, **out.metadata[key]}
            else:
                out.metadata.setdefault(key, value)
    # Outside the `if metadata:` above: seed 004 sends `details` without any metadata.
    _lift_from_details(out)

    fields = out.fields
    fields["category"] = _category(category, fields["action"])
    if not console and fields["category"] == RESERVED_CATEGORY:
        raise FieldError("category", f"'{RESERVED_CATEGORY}' is reserved for the console's own audit trail")
    fields["changes"] = _json_value(changes, "changes", 0, out.sensitive) if changes is not None else None
    fields["metadata"] = out.metadata
    return _finish(fields)


# The earliest time an event may carry: nothing an audit log records happened before the Unix
# epoch, and times before it are a client's zero value or a unit mistake (epoch seconds read as
# something else), which would sit at the far end of every timeline.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)


def _timestamp_accepted(value: datetime, now) -> datetime:
    """`value`, unless it lies outside the accepted range: from EARLIEST_TIME up to
    settings.INGEST_MAX_FUTURE_SECONDS after the server's clock (see the README, "Timestamps")."""
    if value < EARLIEST_TIME:
        raise FieldError("timestamp", f"{value.isoformat()} is before 1970-01-01T00:00:00Z, the earliest time accepted")
    latest = (now or timezone.now()) + timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS)
    if value > latest:
        raise FieldError("timestamp", f"{value.isoformat()} is more than {settings.INGEST_MAX_FUTURE_SECONDS:,} seconds "
                                      "ahead of the server's clock; check the sender's clock and time zone")
    return value


def _category(given, action: str) -> str:
    if given not in (None, ""):
        return _text(given, "category", 100).strip().lower()
    first = action.split(".", 1)[0]
    return CATEGORY_ALIASES.get(first, first)


def _finish(fields: dict) -> dict:
    """Type-check the collected fields and fill the ones the client did not send."""
    text_columns = (
        "actor_type", "actor_id", "actor_name", "actor_email", "auth_method", "user_agent",
        "session_id", "resource_type", "resource_id", "resource_name", "project", "region",
        "request_method", "request_path", "trace_id", "request_id",
    )
    get = fields.get
    for column in text_columns:
        value = get(column)
        if type(value) is str and value.isascii() and "\x00" not in value and len(value) <= MAX_SHORT_TEXT:
            fields[column] = value.strip()  # _text's commonest case, without the call
        else:
            fields[column] = _text(value, column).strip()
    fields["description"] = _text(fields.get("description"), "description", MAX_TEXT)
    fields["auth_method"] = fields["auth_method"].lower()
    fields["actor_type"] = fields["actor_type"].lower()
    fields["request_method"] = fields["request_method"].upper()
    fields["ip_address"] = _ip(fields.get("ip_address"), "ip_address")
    fields["tags"] = fields.get("tags") or []
    code = fields.get("status_code")
    if code in (None, ""):
        fields["status_code"] = None
    else:
        try:
            code = int(code)
        except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e400 is float inf
            raise FieldError("status_code", "must be an HTTP status code (an integer)") from None
        if not 100 <= code <= 599:
            raise FieldError("status_code", "must be between 100 and 599")
        fields["status_code"] = code
    return fields


__all__ = [
    "CATEGORIES", "CATEGORY_ALIASES", "FieldError", "OUTCOMES", "REDACTED", "RESERVED_ACTION_PREFIX",
    "RESERVED_CATEGORY", "SEVERITIES", "is_sensitive", "sensitive_keys",
    "normalize_event", "snake",
]
