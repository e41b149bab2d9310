"""RFC 8785 serialisation: the fast path must give the reference package's bytes, always.

Every hash in the chain is SHA-256 over these bytes, so a single differing byte for some value
would make an event unverifiable by anyone holding a standard RFC 8785 implementation.
"""
from __future__ import annotations

import json
import math
import random
import struct

import pytest
import rfc8785

from apps.events.canonical import MAX_SAFE_INTEGER, canonical_json, is_plain

SEED = 8785
ROUNDS = 3000

# Characters chosen to hit every branch that matters: ASCII, the escapes RFC 8785 spells
# specially, other C0 controls, DEL and C1, the BMP below and above U+E000 (where UTF-16 and
# code-point order start to differ), the U+2028/2029 separators JavaScript cares about,
# non-characters, and astral characters (surrogate pairs in UTF-16).
INTERESTING_CHARS = (
    list("azAZ09 _-.:/\"\\'{}[],")
    + ["\b", "\f", "\n", "\r", "\t", "\x00", "\x01", "\x0f", "\x1f", "\x7f", "\x80", "\x9f"]
    + ["é", "ö", "ß", "€", "中", "\u2028", "\u2029", "\ud7ff"]
    + ["\ue000", "\uf8ff", "\ufb33", "\ufeff", "\ufffd", "\uffff"]
    + ["\U00010000", "\U0001f600", "\U0001f4a9", "\U0010ffff"]
)


def random_char(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(INTERESTING_CHARS)
    while True:
        code = rng.randrange(0x110000)
        if not 0xD800 <= code <= 0xDFFF:  # lone surrogates are not Unicode text
            return chr(code)


def random_string(rng: random.Random, max_len: int = 8) -> str:
    return "".join(random_char(rng) for _ in range(rng.randrange(max_len + 1)))


def random_float(rng: random.Random) -> float:
    kind = rng.randrange(6)
    if kind == 0:
        # Any finite double, from its bit pattern: subnormals, huge exponents, everything.
        while True:
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(value):
                return value
    if kind == 1:
        return rng.choice([0.0, -0.0, 0.1, 0.5, 1.0, -1.0, 1e16, 1e21, 1e-6, 1e-7, 5e-324,
                           1.7976931348623157e308, 2.0**53, 2.0**53 + 2, 333333333.33333329])
    if kind == 2:
        return float(rng.randrange(-(2**60), 2**60))  # integral floats, some past 2^53
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    if kind == 4:
        return rng.random() * 10.0 ** rng.randrange(-30, 30)
    return round(rng.uniform(-1000, 1000), rng.randrange(6))


def random_int(rng: random.Random) -> int:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randrange(-1000, 1000)
    if kind == 1:
        return rng.choice([0, 1, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER - 1, 2**31, -(2**31)])
    if kind == 2:
        return MAX_SAFE_INTEGER - rng.randrange(10_000)  # just under 2^53
    return rng.randrange(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1)


def random_value(rng: random.Random, depth: int = 0):
    choices = ["null", "bool", "int", "str", "float"]
    if depth < 4:
        choices += ["list", "dict", "dict"]
    kind = rng.choice(choices)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return random_int(rng)
    if kind == "str":
        return random_string(rng)
    if kind == "float":
        return random_float(rng)
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {random_string(rng, 6): random_value(rng, depth + 1) for _ in range(rng.randrange(6))}


def random_plain_value(rng: random.Random, depth: int = 0):
    """Values of the kind events hold: no floats (these take the fast path when keys allow)."""
    value = random_value(rng, depth)
    return json.loads(json.dumps(value), parse_float=lambda text: text)  # floats become strings


def test_it_matches_rfc8785_on_thousands_of_random_values():
    rng = random.Random(SEED)
    for _ in range(ROUNDS):
        value = random_value(rng)
        assert canonical_json(value) == rfc8785.dumps(value), value


def test_it_matches_rfc8785_on_random_values_that_take_the_fast_path():
    rng = random.Random(SEED + 1)
    fast = 0
    for _ in range(ROUNDS):
        value = random_plain_value(rng)
        fast += is_plain(value)
        assert canonical_json(value) == rfc8785.dumps(value), value
    # Most of these values really exercise the fast encoder, not the fallback.
    assert fast > ROUNDS // 2


@pytest.mark.parametrize(
    "keys",
    [
        # U+E000 and above sort before astral characters in code points, after them in UTF-16.
        ["\ue000", "\U0001f600"],
        ["\uffff", "\U00010000", "a"],
        ["a\ufb33", "a\U0001f600", "a"],
        ["\ufb33", "\U0001f600", "\u20ac", "\r", "1", "\u0080", "\u00f6"],
        ["", "\x00", "\x1f", "\x7f"],
    ],
)
def test_it_sorts_keys_by_utf16_code_units(keys):
    value = {key: index for index, key in enumerate(keys)}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json({"outer": [value]}) == rfc8785.dumps({"outer": [value]})


def test_it_gives_the_bytes_of_rfc8785_section_3_2_2_without_any_library():
    # The example of RFC 8785 section 3.2.2, input and output as printed in the RFC.
    given = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode("utf-8")
    assert canonical_json(given) == expected


def test_it_orders_the_keys_of_rfc8785_section_3_2_3_as_printed():
    given = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [json.loads(b"{" + part + b"}") for part in canonical_json(given)[1:-1].split(b",")]
    assert [next(iter(item.values())) for item in order] == [
        "Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign",
        "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, b"{}"),
        ([], b"[]"),
        ({"a": {}, "b": [], "c": [{}], "d": ""}, b'{"a":{},"b":[],"c":[{}],"d":""}'),
        ("\x00\x1f\x7f", b'"\\u0000\\u001f\x7f"'),
        ("\b\f\n\r\t", b'"\\b\\f\\n\\r\\t"'),
        ("\u2028\u2029", "\"\u2028\u2029\"".encode()),
        ("\U0001f600", "\"\U0001f600\"".encode()),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (-MAX_SAFE_INTEGER, b"-9007199254740991"),
        (1.0, b"1"),
        (-0.0, b"0"),
        (1e21, b"1e+21"),
        (1e16, b"10000000000000000"),
        (1e-7, b"1e-7"),
        (0.000001, b"0.000001"),
        (True, b"true"),
        (None, b"null"),
        ((1, "a"), b'[1,"a"]'),
    ],
)
def test_it_spells_edge_values_like_rfc8785(value, expected):
    assert canonical_json(value) == expected == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**64, {"a": [2**53]}])
def test_it_refuses_integers_beyond_the_exact_range_of_json_numbers(value):
    with pytest.raises(ValueError):
        canonical_json(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"a": math.nan}])
def test_it_refuses_numbers_json_cannot_carry(value):
    with pytest.raises(ValueError):
        canonical_json(value)


@pytest.mark.parametrize("value", ["\ud800", {"\udfff": 1}, ["a\ud83d"]])
def test_it_refuses_lone_surrogates(value):
    with pytest.raises(ValueError):
        canonical_json(value)


def test_it_takes_the_fast_path_for_an_ordinary_event():
    content = {
        "seq": 12, "event_id": "evt_01", "occurred_at": "2026-03-10T14:30:45.123000Z",
        "action": "iam.role.update", "tags": ["prod", "pci"], "status_code": 200, "ip_address": None,
        "changes": {"before": {"role": "viewer"}, "after": {"role": "admin"}},
        "metadata": {"user_agent": "curl/8", "nested": {"ok": True, "n": [1, 2, 3]}, "ünïcode": "東京"},
    }
    assert is_plain(content)
    assert canonical_json(content) == rfc8785.dumps(content)


@pytest.mark.parametrize("value", [2.0, {"k": 1e-7}, {"k": 1e21}, {"\ue000": 1}, {"\U0001f600": 1}, 2**53])
def test_it_leaves_odd_floats_high_keys_and_big_integers_to_the_reference_encoder(value):
    assert not is_plain(value)


def test_floats_that_take_the_fast_path_serialise_exactly_as_rfc8785_does():
    from apps.events.canonical import canonical_json_text, float_is_plain

    rng = random.Random(8785)
    checked = 0
    while checked < 20_000:
        kind = rng.random()
        if kind < 0.4:
            value = rng.uniform(-1e6, 1e6)
        elif kind < 0.7:
            value = rng.choice([1, -1]) * 10 ** rng.uniform(-5, 17)
        else:
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if value != value or value in (float("inf"), float("-inf")):
            continue
        document = {"v": value, "n": [value, 1]}
        assert canonical_json(document) == rfc8785.dumps(document), value
        text = json.dumps(document)
        assert canonical_json_text(text)[1] == rfc8785.dumps(json.loads(text)), value
        checked += float_is_plain(value)


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


@pytest.mark.django_db
def test_verification_reads_back_from_jsonb_the_bytes_ingest_hashed():
    """canonical_stored takes JSON as PostgreSQL prints a jsonb column (its own key order and
    number spelling) and must give the RFC 8785 text of the value ingest stored, fast path or not."""
    from django.db import connection

    from apps.events.canonical import canonical_stored, canonical_text

    rng = random.Random(SEED + 2)
    values = [random_value(rng) for _ in range(1500)] + [random_plain_value(rng) for _ in range(1500)]
    values += [
        {"version": "2.13.4", "note": "ratio: 1.5, [2.5", "id": "1234567890123456789", "n": 123456789012345},
        {"n": [1.5, -0.25, 1e-7, 1e21, 2.0**53 + 2], "big": 9007199254740991, "k\ue000": 1},
        {"a": {"b": [{"c": None, "d": True, "e": -7}]}, "": ""},
    ]
    values = [value for value in values if not _holds_nul(value)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT value::jsonb::text FROM unnest(%s::text[]) AS value",
                       [[canonical_text(value) for value in values]])
        stored = [row[0] for row in cursor.fetchall()]
    for value, text in zip(values, stored):
        assert canonical_stored(text).encode("utf-8") == rfc8785.dumps(value), (value, text)
