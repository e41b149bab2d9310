"""What every format module shares: the refusal of a record, the event id, small lookups.

A format module maps one source record (a dict, as the vendor wrote it) onto the event shape
`apps.events.schema.normalize_event` accepts: flat snake_case keys (`action`, `actor_id`,
`ip_address`, ...), with the whole source record as `metadata`, so every field the source
sent stays findable under its original path (`metadata.userIdentity.arn`).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import re

from apps.events.schema import REDACTED, sensitive_keys


class Refused(Exception):
    """This record cannot be imported; the message says why, in words a user can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Skipped(Exception):
    """This record is not an event of its own (a Kubernetes RequestReceived stage): counted, not stored."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def record_digest(record) -> str:
    """A digest of the record: the same record gives the same digest, whatever its key order.

    Values under sensitive keys are left out as ingest redacts them (`password`, `token`, ...):
    the event id is shown to every reader of the event, and a digest over a redacted password
    would let them test guesses of it against the id. Most records hold no such key: those are
    only walked to find that out, and encoded as they are (the same text as the redacted copy).
    The digest is part of every imported event's id, so its text must never change: a repeated
    import of a file imported by an earlier version would store its records again.
    """
    sensitive = sensitive_keys()
    if _holds_sensitive(record, 0, sensitive):
        record = _redacted(record, 0, sensitive)
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _holds_sensitive(value, depth: int, sensitive) -> bool:
    """Whether _redacted would change anything in `value`."""
    if depth > 64:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                continue
            if isinstance(key, str) and sensitive[key]:
                return True
            if isinstance(item, (dict, list)) and _holds_sensitive(item, depth + 1, sensitive):
                return True
        return False
    if isinstance(value, list):
        return any(isinstance(item, (dict, list)) and _holds_sensitive(item, depth + 1, sensitive) for item in value)
    return False


def _redacted(value, depth: int, sensitive):
    if depth > 64:
        return value
    if isinstance(value, dict):
        return {key: REDACTED if item is not None and isinstance(key, str) and sensitive[key] else _redacted(item, depth + 1, sensitive)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, depth + 1, sensitive) for item in value]
    return value


def event_id(prefix: str, source_id, record) -> str:
    """`<prefix>:<source id>:<digest>`: the source's id alone is not unique in real files
    (ids repeat across test scenarios and fixtures), so the digest of the record itself decides
    whether two records are the same. The same record imported twice gets the same id, which the
    chain stores once."""
    digest = record_digest(record)
    source = str(source_id).strip()[:150] if source_id not in (None, "") else ""
    return f"{prefix}:{source}:{digest}" if source else f"{prefix}:{digest}"


def dig(record, *path, default=None):
    """record[path[0]][path[1]]..., or `default` where a step is missing or not a dict."""
    value = record
    for key in path:
        if not isinstance(value, dict):
            return default
        value = value.get(key)
        if value is None:
            return default
    return value


def text(value, limit: int = 1000) -> str:
    """A short text column from a source value (numbers and booleans written out, others dropped)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()[:limit]


def ip_or_none(value) -> str | None:
    """The address if `value` is one, else None: the raw value stays in metadata.

    CloudTrail writes `AWS Internal` or a service's host name where a caller's address would
    be, and anonymised samples hold zero-padded quads (`075.050.255.67`) that are not addresses.
    """
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if getattr(address, "scope_id", None):
        return None
    return str(address)


_WORDS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ACTION = re.compile(r"[^a-z0-9_:/\-]+")


def action_part(value: str) -> str:
    """One segment of a dotted action: `CreateUser` → `create_user`, `GetPasswordData` →
    `get_password_data`; characters an action cannot hold become `_`."""
    snake = _WORDS.sub("_", str(value).strip()).lower()
    return _NOT_ACTION.sub("_", snake).strip("_") or "unknown"


def sentence(*parts) -> str:
    return " ".join(str(part) for part in parts if part not in (None, "")).strip()
