"""Checking one value of an event (text, JSON, time, address, tags), redacting sensitive keys,
and collecting the fields of one event while its input is taken apart.
"""
from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.events.canonical import MAX_SAFE_INTEGER
from apps.events.schema.vocabulary import (
    _CACHED_KEYS, FieldError, MAX_DEPTH, MAX_SHORT_TEXT, MAX_TAGS, REDACTED, _SNAKE, snake,
)

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


def sensitive_keys() -> "_Sensitivity":
    """key → whether it is sensitive, as is_sensitive tells it, for a caller checking many keys
    (reading the setting once rather than for each key)."""
    return _sensitivity()


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
