"""The event schema: turning what clients send into the stored fields of DESIGN.md.

Accepted shapes: the flat and nested forms of the seeds (`actor{}`, `resource{}`, `action` as a
string or as `{operation, status, method}`, `changes`, `metadata.tags`, `details`,
`actor.user_id`), in snake_case or camelCase, and CloudEvents 1.0 envelopes whose `data` is
one of those. Nothing the client sent is dropped: keys with no column of their own are kept
in `metadata` under their original path (`resource.tags.Environment` stays findable as
`metadata.resource.tags.Environment`). Values under configured sensitive keys are redacted.
"""
from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ulid import ULID

from apps.events.canonical import MAX_SAFE_INTEGER

REDACTED = "[REDACTED]"
MAX_TEXT = 10_000
MAX_SHORT_TEXT = 1_000
MAX_TAGS = 100
MAX_DEPTH = 32

CATEGORIES = {
    "auth", "authz", "compute", "network", "storage", "iam", "billing", "config", "data",
    "security", "system", "audit",
}
# The first segment of an action names its category when no category is given; these are the
# usual spellings of the fixed categories in the seeds' event families.
CATEGORY_ALIASES = {
    "authentication": "auth", "login": "auth", "session": "auth", "user": "iam", "role": "iam",
    "permission": "authz", "authorization": "authz", "access": "authz", "policy": "authz",
    "vps": "compute", "vm": "compute", "k8s": "compute", "instance": "compute", "server": "compute",
    "firewall": "network", "vpc": "network", "dns": "network", "bucket": "storage", "volume": "storage",
    "settings": "config", "configuration": "config", "cost": "billing", "budget": "billing",
}

OUTCOMES = {
    "success": "success", "succeeded": "success", "successful": "success", "ok": "success",
    "allowed": "success", "allow": "success", "completed": "success", "true": "success",
    "failure": "failure", "failed": "failure", "fail": "failure", "false": "failure",
    "denied": "denied", "deny": "denied", "blocked": "denied", "forbidden": "denied",
    "unauthorized": "denied", "rejected": "denied",
    "error": "error", "errored": "error",
    "unknown": "unknown",
}
SEVERITIES = {
    "info": "info", "informational": "info", "debug": "info", "default": "info", "notice": "low",
    "low": "low", "medium": "medium", "moderate": "medium", "warning": "medium", "warn": "medium",
    "high": "high", "error": "high", "critical": "critical", "alert": "critical",
    "emergency": "critical", "fatal": "critical",
}
ACTOR_TYPES = {"user", "service", "system", "api_key"}

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z][a-z])")
_ACTION = re.compile(r"^[a-z0-9_:/\-]+(\.[a-z0-9_:/\-]+)*$")


def snake(key: str) -> str:
    """camelCase or PascalCase → snake_case (`eventId` → `event_id`, `ipAddress` → `ip_address`)."""
    if not isinstance(key, str):
        return key
    name = _SNAKE.get(key)
    if name is None:
        if len(_SNAKE) >= _CACHED_KEYS:
            _SNAKE.clear()
        name = _SNAKE[key] = _CAMEL.sub(lambda m: "_" + (m.group(1) or m.group(2)), key).lower().replace("-", "_")
    return name


# Event keys repeat from one event to the next, so their spellings (and whether they are
# sensitive) are worth remembering, in plain dicts: a lookup in one costs a fraction of a call
# through lru_cache. The bound keeps a stream of unique keys from growing them without limit.
_CACHED_KEYS = 4096
_SNAKE: dict[str, str] = {}


@dataclass
class FieldError(Exception):
    field: str
    message: str


def _text(value, field: str, limit: int = MAX_SHORT_TEXT) -> str:
    if type(value) is str and "\x00" not in value and value.isascii():
        # The commonest case, without the calls below.
        if len(value) > limit:
            raise FieldError(field, f"is longer than {limit} characters")
        return value
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldError(field, "must be a string")
    text = value if isinstance(value, str) else str(value)
    _check_chars(text, field)
    if len(text) > limit:
        raise FieldError(field, f"is longer than {limit} characters")
    return text


def _check_chars(text: str, field: str) -> None:
    # PostgreSQL text cannot hold NUL, and UTF-8 cannot hold a lone surrogate: refuse both
    # rather than store something other than what was sent.
    if "\x00" in text:
        raise FieldError(field, "contains a NUL character")
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(field, "contains an unpaired surrogate (invalid Unicode)") from None


def _json_value(value, field: str, depth: int = 0, sensitive: "_Sensitivity | None" = None):
    """Check and redact a free-form JSON value (metadata, changes, kept keys).

    `sensitive` is _sensitivity(), looked up once per event by the caller (reading a setting
    costs more than the rest of a key's check).
    """
    if sensitive is None:
        sensitive = _sensitivity()
    if depth > MAX_DEPTH:
        raise FieldError(field, f"is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                key = str(key)
            if "\x00" in key or not key.isascii():
                _check_chars(key, f"{field}.{key}")
            if item is not None and sensitive[key]:
                out[key] = REDACTED
            elif type(item) is str and depth < MAX_DEPTH and "\x00" not in item and item.isascii():
                # The commonest leaf, checked here rather than by a call of its own.
                out[key] = item
            else:
                out[key] = _json_value(item, f"{field}.{key}", depth + 1, sensitive)
        return out
    if isinstance(value, list):
        return [_json_value(item, f"{field}[{i}]", depth + 1, sensitive) for i, item in enumerate(value)]
    if isinstance(value, str):
        _check_chars(value, field)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise FieldError(field, "is an integer beyond ±2^53, which JSON cannot carry exactly; send it as a string")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(field, "is a number too large for JSON (infinite)")
        return value
    raise FieldError(field, "is not a JSON value")


def is_sensitive(key: str) -> bool:
    return _sensitivity()[key]


def _is_sensitive(key: str, sensitive_keys: tuple[str, ...]) -> bool:
    name = snake(key)
    return any(name == sensitive or name.endswith("_" + sensitive) for sensitive in sensitive_keys)


class _Sensitivity(dict):
    """key → whether it is sensitive under one list of redaction keys, filled as keys are seen."""

    __slots__ = ("keys",)

    def __init__(self, keys: tuple[str, ...]) -> None:
        super().__init__()
        self.keys = keys

    def __missing__(self, key: str) -> bool:
        if len(self) >= _CACHED_KEYS:
            self.clear()
        flag = self[key] = _is_sensitive(key, self.keys)
        return flag


_SENSITIVITY: dict[tuple[str, ...], _Sensitivity] = {}


def _sensitivity() -> _Sensitivity:
    """The key cache for settings.AUDIT_REDACT_KEYS as they are now (tests change them)."""
    keys = tuple(settings.AUDIT_REDACT_KEYS)
    found = _SENSITIVITY.get(keys)
    if found is None:
        if len(_SENSITIVITY) >= 16:
            _SENSITIVITY.clear()
        found = _SENSITIVITY[keys] = _Sensitivity(keys)
    return found


_NANOSECONDS = re.compile(r"(\.\d{6})\d+")


def _timestamp(value, field: str) -> datetime:
    if isinstance(value, bool):
        raise FieldError(field, "must be an ISO 8601 timestamp")
    if isinstance(value, (int, float)):
        # Epoch seconds, or milliseconds when the number is too large to be seconds. The
        # division sits inside the try: an integer of hundreds of digits overflows a float.
        try:
            seconds = value / 1000 if abs(value) > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=dt_timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise FieldError(field, "is not a valid epoch time") from None
    if not isinstance(value, str):
        raise FieldError(field, "must be an ISO 8601 timestamp")
    text = value.strip()
    # Nanosecond precision (GCP) is cut to the microseconds PostgreSQL keeps.
    text = _NANOSECONDS.sub(r"\1", text)
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise FieldError(field, f"'{value[:40]}' is not an ISO 8601 timestamp (e.g. 2026-03-10T14:30:45.123Z)")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    try:
        return parsed.astimezone(dt_timezone.utc)
    except OverflowError:
        # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 fall outside the years a datetime holds once in UTC.
        raise FieldError(field, f"'{value[:40]}' is outside the years 1 to 9999 in UTC") from None


# A dotted IPv4 address without leading zeros: already the spelling ipaddress would give.
_PLAIN_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def _ip(value, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise FieldError(field, "must be an IP address string")
    if _PLAIN_IPV4.fullmatch(value):
        return value
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise FieldError(field, f"'{value[:60]}' is not an IPv4 or IPv6 address") from None
    # Python accepts an IPv6 zone (fe80::1%eth0) that PostgreSQL's inet refuses: refuse it here
    # with a field error instead of failing at the database.
    if getattr(address, "scope_id", None):
        raise FieldError(field, f"'{value[:60]}' carries an IPv6 zone (%...), which cannot be stored; send the address alone")
    return str(address)


def _tags(value, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise FieldError(field, "must be a list of strings")
    if len(value) > MAX_TAGS:
        raise FieldError(field, f"has more than {MAX_TAGS} tags")
    return [_text(tag, f"{field}[{i}]", 200) for i, tag in enumerate(value)]


def _pick(source: dict, *names):
    """Pop the first of `names` present in `source` (keys already snake_cased); (value, name)."""
    for name in names:
        if name in source:
            return source.pop(name), name
    return None, None


class _Event:
    """Collects the stored fields of one event while the input is taken apart."""

    def __init__(self) -> None:
        self.fields: dict = {}
        self.metadata: dict = {}
        # The redaction keys, read once for the event.
        self.sensitive = _sensitivity()

    def set(self, name: str, value) -> None:
        if value not in (None, "", []) and not self.fields.get(name):
            self.fields[name] = value

    def keep(self, path: tuple[str, ...], value) -> None:
        """Keep an input key with no column of its own in metadata, under its original path.

        Callers check the value with _json_value, which looks at the keys *inside* it; the key
        being kept is checked here, so that `actor.password` or a top-level `api_key` is redacted
        and a NUL or lone surrogate in a key is refused like one in a value.
        """
        for part in path:
            _check_chars(part, ".".join(path))
        if value is not None and self.sensitive[path[-1]]:
            value = REDACTED
        target = self.metadata
        for part in path[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = target[part] = {}
            target = existing
        target[path[-1]] = value


def _snaked(obj: dict) -> tuple[dict, dict]:
    """`obj` with its keys in snake case (camelCase and known spellings mapped), and each
    snake-case name's original key (unknown keys are kept under the path they came with)."""
    values, originals = {}, {}
    spelt = _SNAKE.get
    for key, value in obj.items():
        name = spelt(key) or snake(key)
        values[name] = value
        originals[name] = key
    return values, originals


def normalize_event(raw, *, index_field: str = "") -> dict:
    """Stored fields of one event (without seq, received_at and hashes); FieldError when invalid."""
    if not isinstance(raw, dict):
        raise FieldError("", "an event must be a JSON object")
    if _is_cloudevent(raw):
        raw = _unwrap_cloudevent(raw)

    out = _Event()
    body, original = _snaked(raw)

    event_id, _ = _pick(body, "event_id", "id", "uuid", "insert_id", "audit_id")
    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, (str, int))):
        raise FieldError("event_id", "must be a string")
    event_id = _text(event_id, "event_id", 200).strip() if event_id is not None else ""
    out.fields["event_id"] = event_id or f"evt_{ULID()}"

    occurred, name = _pick(body, "timestamp", "occurred_at", "time", "event_time", "published", "created_at")
    out.fields["occurred_at"] = _timestamp(occurred, "timestamp") if occurred not in (None, "") else timezone.now()

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
        action_string = _text(action, "action", 200).strip()
    if not action_string and event_type is not None:
        action_string = _text(event_type, "event_type", 200).strip()
    elif event_type is not None:
        kept_as = original.get("event_type") or original.get("type") or "event_type"
        out.keep((kept_as,), _json_value(event_type, "event_type", 0, out.sensitive))
    action_string = action_string.lower()
    if not action_string:
        raise FieldError("action", "is required (send `action` or `event_type`, e.g. \"auth.login\")")
    if not _ACTION.match(action_string):
        raise FieldError("action", f"'{action_string[:60]}' is not a dotted action name like auth.login or iam.role.update")
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
    fields["changes"] = _json_value(changes, "changes", 0, out.sensitive) if changes is not None else None
    fields["metadata"] = out.metadata
    return _finish(fields)


# Columns an event may give at its top level, each under any of these names (the first wins).
_TOP_LEVEL_COLUMNS = (
    ("auth_method", ("auth_method", "authentication_method")),
    ("ip_address", ("ip_address", "ip", "source_ip", "source_ip_address", "client_ip", "remote_addr")),
    ("user_agent", ("user_agent",)),
    ("session_id", ("session_id",)),
    ("project", ("project", "project_id")),
    ("region", ("region",)),
    ("trace_id", ("trace_id", "correlation_id")),
    ("request_id", ("request_id",)),
    ("description", ("description", "message", "summary")),
)


# The columns a nested actor object gives, each under any of these names (the first wins).
_ACTOR_COLUMNS = (
    ("actor_type", ("type", "actor_type", "kind")),
    ("actor_id", ("id", "user_id", "actor_id", "uid", "username")),
    ("actor_name", ("name", "display_name", "username", "alternate_id")),
    ("actor_email", ("email", "email_address", "principal_email")),
    ("ip_address", ("ip_address", "ip", "source_ip")),
    ("user_agent", ("user_agent",)),
    ("session_id", ("session_id",)),
    ("auth_method", ("auth_method", "authentication_method")),
)
# The same for a nested resource object.
_RESOURCE_COLUMNS = (
    ("resource_type", ("type", "resource_type", "kind")),
    ("resource_id", ("id", "resource_id", "arn", "uid")),
    ("resource_name", ("name", "resource_name", "display_name")),
    ("region", ("region", "location")),
    ("project", ("project", "project_id")),
)


def _take_nested(obj: dict, prefix: str, columns, out: _Event) -> None:
    """The columns of a nested `actor` or `resource` object (first spelling given wins); its other
    keys kept in metadata under their original path (`resource.tags.Environment`)."""
    nested, originals = _snaked(obj)
    for column, names in columns:
        for name in names:  # _pick, inline
            if name in nested:
                value = nested.pop(name)
                if value is not None:
                    out.set(column, value)
                break
    for key, value in nested.items():
        out.keep((prefix, originals[key]), _json_value(value, f"{prefix}.{originals[key]}", 0, out.sensitive))


def _take_actor(body: dict, out: _Event) -> None:
    actor, _ = _pick(body, "actor", "user_identity", "principal")
    if isinstance(actor, dict):
        _take_nested(actor, "actor", _ACTOR_COLUMNS, out)
    elif actor is not None:
        text = _text(actor, "actor")
        out.set("actor_email" if "@" in text else "actor_id", text)
    for column, names in (
        ("actor_type", ("actor_type",)),
        ("actor_id", ("actor_id", "user_id", "user", "username")),
        ("actor_name", ("actor_name", "user_name")),
        ("actor_email", ("actor_email", "user_email", "email")),
    ):
        value, _ = _pick(body, *names)
        if value is not None:
            out.set(column, value)
    # 003 names the actor by email in `name`: treat an address as the email when none is given.
    name = out.fields.get("actor_name")
    if isinstance(name, str) and "@" in name and not out.fields.get("actor_email"):
        out.fields["actor_email"] = name


def _take_resource(body: dict, out: _Event) -> None:
    resource, _ = _pick(body, "resource", "target", "object_ref")
    if isinstance(resource, dict):
        _take_nested(resource, "resource", _RESOURCE_COLUMNS, out)
    elif resource is not None:
        if isinstance(resource, list):
            out.keep(("resource",), _json_value(resource, "resource", 0, out.sensitive))
        else:
            out.set("resource_id", _text(resource, "resource"))
    for column in ("resource_type", "resource_id", "resource_name"):
        value, _ = _pick(body, column)
        if value is not None:
            out.set(column, value)


def _take_request(body: dict, out: _Event) -> None:
    request, _ = _pick(body, "request", "http_request")
    if isinstance(request, dict):
        nested = {snake(k): (k, v) for k, v in request.items()}
        for column, names in (
            ("request_method", ("method", "request_method")),
            ("request_path", ("path", "url", "request_path", "request_url")),
            ("status_code", ("status_code", "status")),
            ("request_id", ("id", "request_id")),
        ):
            for candidate in names:
                if candidate in nested:
                    out.set(column, nested.pop(candidate)[1])
                    break
        for key, (original, value) in nested.items():
            out.keep(("request", original), _json_value(value, f"request.{original}", 0, out.sensitive))
    elif request is not None:
        out.keep(("request",), _json_value(request, "request", 0, out.sensitive))
    for column, names in (
        ("request_method", ("request_method", "http_method")),
        ("request_path", ("request_path", "path", "http_path")),
        ("status_code", ("status_code", "http_status", "response_code")),
    ):
        value, _ = _pick(body, *names)
        if value is not None:
            out.set(column, value)


# Keys that seeds put inside metadata although they have a column of their own.
_LIFTED = {
    "tags": "tags", "ip_address": "ip_address", "ip": "ip_address", "source_ip": "ip_address",
    "request_id": "request_id", "trace_id": "trace_id", "user_agent": "user_agent",
    "session_id": "session_id", "auth_method": "auth_method",
}


def _lift_from_metadata(metadata: dict, out: _Event) -> None:
    for key in list(metadata):
        column = _LIFTED.get(snake(key))
        if column is None or out.fields.get(column):
            continue
        value = metadata[key]
        if column == "tags":
            out.set("tags", _tags(value, f"metadata.{key}"))
        elif isinstance(value, str):
            out.set(column, value)
        else:
            continue
        del metadata[key]


def _lift_from_details(out: _Event) -> None:
    # 004 keeps the auth method in `details` (top level or inside metadata, both end up in
    # out.metadata); copy it to its column, leave details whole.
    details = out.metadata.get("details")
    if isinstance(details, dict) and not out.fields.get("auth_method") and isinstance(details.get("auth_method"), str):
        out.set("auth_method", details["auth_method"])


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


# --- CloudEvents 1.0 ---------------------------------------------------------------------------


def _is_cloudevent(raw: dict) -> bool:
    return "specversion" in raw


def _unwrap_cloudevent(raw: dict) -> dict:
    """A CloudEvents envelope → an event in our shapes: `data` is the event, the envelope fills gaps."""
    version = raw.get("specversion")
    if version != "1.0":
        raise FieldError("specversion", f"CloudEvents version '{version}' is not supported (use 1.0)")
    for required in ("id", "source", "type"):
        if not raw.get(required):
            raise FieldError(required, "is required in a CloudEvents envelope")
    data = raw.get("data")
    if data is None and "data_base64" in raw:
        raise FieldError("data_base64", "binary CloudEvents data is not accepted; send JSON `data`")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        data = {"data": data}
    event = dict(data)
    keys = {snake(k) for k in event}
    if not keys & {"event_id", "id"}:
        event["event_id"] = raw["id"]
    if not keys & {"action", "event_type"}:
        event["action"] = raw["type"]
    if "time" in raw and not keys & {"timestamp", "occurred_at", "time"}:
        event["timestamp"] = raw["time"]
    envelope = {k: v for k, v in raw.items() if k not in ("data", "id", "type", "time")}
    if "subject" in raw and "resource" not in keys and "resource_id" not in keys:
        event["resource_id"] = raw["subject"]
    existing_metadata = event.get("metadata")
    if existing_metadata is not None and not isinstance(existing_metadata, dict):
        raise FieldError("metadata", "must be a JSON object")
    event["metadata"] = {**(existing_metadata or {}), "cloudevents": envelope}
    return event
