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
import math
import re
import threading

import rfc8785

# Integers beyond ±2^53 are not exactly representable in the I-JSON number model RFC 8785
# assumes; ingest refuses them, so stored content never holds one.
MAX_SAFE_INTEGER = 2**53 - 1

_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode
# The fast encoder itself (to str), for callers that know their value is plain.
encode_plain = _encode


def _key_is_plain(key: str) -> bool:
    # Keys sort by UTF-16 code units in RFC 8785 and by code points in Python: the two orders
    # agree unless a key holds a character at or above U+E000.
    return key.isascii() or max(key) < "\ue000"


def is_plain(value) -> bool:
    """True when the fast encoder gives exactly the RFC 8785 bytes for `value`."""
    # Exact types first (what decoded JSON and normalised events hold), with strings, the
    # commonest leaves, checked inline rather than by a call per value; subclasses below.
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or _key_is_plain(key)):
                return False
            if type(item) is not str and not is_plain(item):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) is not str and not is_plain(item):
                return False
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if kind is float:
        return float_is_plain(value)
    if isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, float):
        return float_is_plain(value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _key_is_plain(key) and is_plain(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    return False


def float_is_plain(value: float) -> bool:
    """True when Python's repr of the float is its ECMAScript spelling (RFC 8785 §3.2.2.3).

    Both print the shortest digits that round-trip; they differ in notation only: integral
    values (Python writes 2.0, ECMAScript 2) and exponents (Python from 1e16 up and below
    1e-4, ECMAScript from 1e21 up and below 1e-6). In between, with a fraction, they agree.
    """
    return math.isfinite(value) and not value.is_integer() and 1e-4 <= abs(value) < 1e16


def canonical_json(value) -> bytes:
    """The RFC 8785 serialisation of `value`, as UTF-8 bytes."""
    if is_plain(value):
        return _encode(value).encode("utf-8")
    return rfc8785.dumps(value)


def canonical_text(value) -> str:
    """The RFC 8785 serialisation of `value`, as text (what a jsonb column is given)."""
    if is_plain(value):
        return _encode(value)
    return rfc8785.dumps(value).decode("utf-8")


def _json_number(text: str) -> int | float:
    # RFC 8785 numbers are IEEE doubles, and ingest refuses integers past 2^53. jsonb keeps
    # numbers as decimals and prints a float such as 1e16 as 10000000000000000, which json
    # reads as an int; past 2^53 only the double can be what was stored and hashed.
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    _seen.floats = True
    return float(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not float_is_plain(value):
        _seen.floats = True
    return value


# Which JSON text held a float is noted per thread while it is decoded, so the decoder can be
# built once (json.loads with hooks builds a new one per call).
_seen = threading.local()
_decode = json.JSONDecoder(parse_int=_json_number, parse_float=_json_float).decode
# A character at or above U+E000 anywhere in the text might sit in a key, where it could sort
# differently in UTF-16: such texts take the reference path.
_HIGH_CHARACTER = re.compile("[\ue000-\U0010ffff]")


def canonical_json_text(text: str):
    """Decode stored JSON text (jsonb as PostgreSQL prints it); return (value, RFC 8785 bytes).

    Cheaper than canonical_json(json.loads(text)): the decoder itself notes whether a float
    was read, and one regular-expression scan replaces the walk over keys.
    """
    _seen.floats = False
    value = _decode(text)
    # An ASCII text holds no character that could sort keys differently (the check is in C).
    if _seen.floats or (not text.isascii() and _HIGH_CHARACTER.search(text)):
        return value, rfc8785.dumps(value)
    return value, _encode(value).encode("utf-8")


def canonical_stored(text: str) -> str:
    """canonical_json_text for verification, which needs the RFC 8785 text and not the value."""
    _seen.floats = False
    value = _decode(text)
    if _seen.floats or (not text.isascii() and _HIGH_CHARACTER.search(text)):
        return rfc8785.dumps(value).decode("utf-8")
    return _encode(value)
