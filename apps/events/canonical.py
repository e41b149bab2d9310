"""RFC 8785 (JSON Canonicalization Scheme) serialisation of event content.

The rfc8785 package is the reference; it is pure Python and costs ~50 µs an event. For the
values events actually hold (strings, safe integers, booleans, null, arrays and objects whose
keys sort the same in UTF-16 and in code points) Python's C json encoder with sorted keys and
no ASCII escaping produces the very same bytes in a sixth of the time, so it is used when a
walk of the value shows that it is of that kind, and rfc8785 otherwise (floats, whose ES6
formatting differs from Python's repr).
"""
from __future__ import annotations

import json

import rfc8785

# Integers beyond ±2^53 are not exactly representable in the I-JSON number model RFC 8785
# assumes; ingest refuses them, so stored content never holds one.
MAX_SAFE_INTEGER = 2**53 - 1

_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _key_is_plain(key: str) -> bool:
    # Keys sort by UTF-16 code units in RFC 8785 and by code points in Python: the two orders
    # agree unless a key holds a character at or above U+E000.
    return key.isascii() or max(key) < "\ue000"


def is_plain(value) -> bool:
    """True when the fast encoder gives exactly the RFC 8785 bytes for `value`."""
    if value is None or value is True or value is False or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _key_is_plain(key) or not is_plain(item):
                return False
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    return False


def canonical_json(value) -> bytes:
    """The RFC 8785 serialisation of `value`, as UTF-8 bytes."""
    if is_plain(value):
        return _encode(value).encode("utf-8")
    return rfc8785.dumps(value)
