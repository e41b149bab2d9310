"""The hash chain: appending events under one lock and signing checkpoints (verification: chain_verification).

hash = SHA-256(prev_hash || RFC8785(content)), where content is every stored field but the
two hashes (seq, event_id and received_at included). The first event's prev_hash is 32 zero
bytes. Appends take a row lock on the single chain-head row, so seq is gapless and ordered
whatever the number of concurrent writers.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from operator import itemgetter
from datetime import datetime, timezone as dt_timezone
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.events import signing
from apps.events.canonical import (
    canonical_json, canonical_json_text, canonical_text, encode_plain,
)
from apps.events.models import Checkpoint
from apps.events.rollups import rollups_apply

GENESIS = bytes(32)

# Every stored field but the hashes, in column order. This tuple is the hashed content.
CONTENT_FIELDS = (
    "seq", "event_id", "occurred_at", "received_at", "action", "category", "outcome", "severity",
    "actor_type", "actor_id", "actor_name", "actor_email", "auth_method", "ip_address",
    "user_agent", "session_id", "resource_type", "resource_id", "resource_name", "project",
    "region", "request_method", "request_path", "status_code", "trace_id", "request_id", "tags",
    "description", "changes", "metadata",
)
_COLUMNS = ", ".join(CONTENT_FIELDS)


def format_time(value: datetime) -> str:
    """Timestamps in the hashed content: UTC, four-digit year, always six fractional digits, `Z`."""
    # Not strftime: glibc's %Y writes the year 999 as "999" where other platforms write "0999",
    # and a hash must not depend on the platform that computes it.
    return value.astimezone(dt_timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def format_ip(value) -> str | None:
    """Addresses in the hashed content: PostgreSQL's spelling of inet, which the API shows too.

    That is Python's compressed form (RFC 5952) except for IPv6 addresses that embed an IPv4
    address (::ffff:a.b.c.d and ::a.b.c.d), whose last 32 bits PostgreSQL writes as a dotted
    quad. Python writes those in hex before 3.13 and dotted from 3.13 on, so its own spelling
    would make hashes depend on the Python version and differ from what auditors are shown.
    """
    if value is None:
        return None
    address = ipaddress.ip_address(str(value))
    if address.version == 6 and address.packed[:10] == bytes(10):
        marker, low = address.packed[10:12], address.packed[12:]
        embedded = ipaddress.IPv4Address(low)
        if marker == b"\xff\xff":
            return f"::ffff:{embedded}"
        # ::a.b.c.d, unless the zeros run on into the seventh group (::1 stays ::1, as in PostgreSQL).
        if marker == b"\x00\x00" and low[:2] != b"\x00\x00":
            return f"::{embedded}"
    return str(address)


def _load_jsonb(value):
    return canonical_json_text(value)[0] if isinstance(value, str) else value


def content_of(values: dict) -> dict:
    """The hashed content of an event given as a mapping of its stored fields."""
    content = {name: values[name] for name in CONTENT_FIELDS}
    # Django's psycopg loader hands jsonb back as text; ingest passes Python values.
    for name in ("changes", "metadata"):
        content[name] = _load_jsonb(content[name])
    content["occurred_at"] = format_time(content["occurred_at"])
    content["received_at"] = format_time(content["received_at"])
    content["ip_address"] = format_ip(content["ip_address"])
    content["tags"] = list(content["tags"] or [])
    return content


def event_hash(prev_hash: bytes, content: dict) -> bytes:
    return hashlib.sha256(bytes(prev_hash) + canonical_json(content)).digest()


def hash_label(value: bytes) -> str:
    return "sha256:" + bytes(value).hex()


# --- appending -----------------------------------------------------------------------------


class Appended(NamedTuple):
    """What chain_append did with one event: its seq and hash, and whether it was already stored."""

    event_id: str
    seq: int
    hash: bytes
    duplicate: bool


def _lock_head(cursor) -> tuple[int, bytes]:
    cursor.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE")
    row = cursor.fetchone()
    if row is None:
        # The migration creates the row; this covers a database restored without it, resuming
        # from the last stored event so the next append neither collides nor relinks.
        cursor.execute(
            "INSERT INTO audit_chain_head (id, seq, hash) "
            "SELECT 1, coalesce(max(seq), 0), coalesce((SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1), %s) "
            "FROM audit_event ON CONFLICT DO NOTHING",
            [GENESIS],
        )
        cursor.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE")
        row = cursor.fetchone()
    return row[0], bytes(row[1])


def _ip_label(address: str | None) -> str | None:
    # Normalised IPv4 addresses (what ingest stores) are already spelt as hashed; only IPv6
    # needs format_ip's attention to embedded IPv4 forms.
    return address if address is None or ":" not in address else format_ip(address)


# RFC 8785 sorts an object's keys, and the content's keys are always the same, so an event's
# canonical bytes are one template filled in: the text before seq's value, seq, the text after
# it. Only seq (and through it prev_hash and hash) depends on where the event lands in the
# chain, so chain_append fills in both halves before it takes the chain-head lock, and under
# the lock it only joins them around the seq and hashes.
_SORTED_FIELDS = tuple(sorted(CONTENT_FIELDS))
_SEQ_AT = _SORTED_FIELDS.index("seq")
# Fields given their hashed spelling by _prepare; every other field is JSON-encoded as stored
# (text, mostly, which the JSON module's C string encoder takes directly).
_SPELLED = ("seq", "occurred_at", "received_at", "ip_address", "changes", "metadata")
_AS_STORED = tuple(name for name in CONTENT_FIELDS if name not in _SPELLED)
# _prepare lists the JSON of the fields in this order; the templates take them in key order,
# picked by position (itemgetter, in C) rather than by name from a dict.
_VALUES = (*_AS_STORED, "occurred_at", "received_at", "ip_address", "changes", "metadata")
_BEFORE_SEQ = "{" + "".join(f'"{name}":%s,' for name in _SORTED_FIELDS[:_SEQ_AT]) + '"seq":'
_AFTER_SEQ = "".join(f',"{name}":%s' for name in _SORTED_FIELDS[_SEQ_AT + 1:]) + "}"
_BEFORE_VALUES = itemgetter(*(_VALUES.index(name) for name in _SORTED_FIELDS[:_SEQ_AT]))
_AFTER_VALUES = itemgetter(*(_VALUES.index(name) for name in _SORTED_FIELDS[_SEQ_AT + 1:]))
# The COPY's column order: seq and received_at (the same for every event of a call) first,
# then the fields taken from the event as they are, then the two JSON fields as canonical text.
_COPY_COLUMNS = ("seq", "received_at", "occurred_at", "ip_address", *_AS_STORED, "changes", "metadata",
                 "prev_hash", "hash")
_COPY = f"COPY audit_event ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
_encode_text = json.encoder.encode_basestring  # the string encoder of encode_plain (ensure_ascii=False)


_TAGS_AT = _AS_STORED.index("tags")


def _array_literal(tags) -> str | list:
    """tags as PostgreSQL's text[] input, which COPY takes as text for less than psycopg spends
    adapting a list (left to psycopg if it holds anything but strings)."""
    if not tags:
        return "{}"
    if all(type(tag) is str for tag in tags):
        return "{" + ",".join('"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"' for tag in tags) + "}"
    return tags


def _json_other(value) -> str:
    """encode_plain(value) for a stored field that is not text: the status code (an integer or
    null) and the tags (strings) take the short ways, which give the same text."""
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    if type(value) is list and all(type(item) is str for item in value):
        return "[" + ",".join(map(_encode_text, value)) + "]"
    return encode_plain(value)


def _prepare(event: dict, received_label: str, texts: dict | None = None) -> tuple[bytes, bytes, tuple]:
    """An event's canonical bytes before and after its seq, and its COPY row after seq and received_at.

    Times go to COPY as the text they are hashed as (UTC, microseconds, `Z`), which PostgreSQL
    reads back as the same instant: psycopg would spend more adapting the datetime. `texts`:
    see chain_prepare.
    """
    changes = None if event["changes"] is None else canonical_text(event["changes"])
    if texts is None:
        metadata = canonical_text(event["metadata"])
    else:
        value = event["metadata"]
        known = texts.get(id(value))
        if known is not None and known[0] is value:
            metadata = known[1]
        else:
            metadata = canonical_text(value)
            texts[id(value)] = (value, metadata)
    ip_address = event["ip_address"]
    label = _ip_label(ip_address)
    occurred = format_time(event["occurred_at"])
    stored = tuple(map(event.get, _AS_STORED))
    values = [_encode_text(value) if type(value) is str else _json_other(value) for value in stored]
    values += (f'"{occurred}"', received_label, "null" if label is None else _encode_text(label),
               "null" if changes is None else changes, metadata)
    row = (occurred, ip_address, *stored[:_TAGS_AT], _array_literal(stored[_TAGS_AT]), *stored[_TAGS_AT + 1:],
           changes, metadata)
    return ((_BEFORE_SEQ % _BEFORE_VALUES(values)).encode("utf-8"), (_AFTER_SEQ % _AFTER_VALUES(values)).encode("utf-8"),
            row)


class Prepared(NamedTuple):
    """Events made ready for chain_append (chain_prepare): all but what depends on their seq."""

    events: list[dict]
    received_at: str
    parts: list[tuple[bytes, bytes, tuple]]


def chain_prepare(events: list[dict], *, received_at: datetime | None = None, texts: dict | None = None) -> Prepared:
    """Everything of appending `events` that does not depend on their place in the chain: their
    canonical bytes around seq and their COPY rows. chain_append does this itself; a bulk load
    does it in its generating thread while the previous batch is being appended.

    `texts`, for a caller whose events share metadata dicts that nobody changes (the demo
    generator's per-project and per-session ones): a dict, kept from one call to the next, in
    which the canonical text of each metadata object is remembered by identity (the object is
    kept beside its text, so its id cannot be reused while it is there).
    """
    received = format_time(received_at or timezone.now())
    label = f'"{received}"'
    return Prepared(events, received, [_prepare(event, label, texts) for event in events])


# The events of a batch already stored: one probe of the event_id index per id (a lateral
# subquery with LIMIT 1 is never flattened into a join). `event_id = ANY(ids)` lets the planner
# scan the whole table instead when the batch is large against the table (a bulk load's 20,000
# ids against a few hundred thousand rows: measured 150-500 ms a batch, against some 40 ms for
# the probes), under the chain-head lock.
_STORED_IDS = ("SELECT e.event_id, e.seq, e.hash FROM unnest(%s::text[]) AS ids (event_id) CROSS JOIN LATERAL"
               " (SELECT event_id, seq, hash FROM audit_event WHERE event_id = ids.event_id LIMIT 1) AS e")


@transaction.atomic
def chain_append(events: list[dict] | Prepared, *, received_at: datetime | None = None,
                 count_rollups: bool = True) -> list[Appended]:
    """Append normalised events (dicts of stored fields without seq/received_at/hashes), or
    events chain_prepare made ready.

    Events whose event_id is already stored, or repeated earlier in the same call, are not
    stored again and come back with duplicate=True and the stored seq and hash.

    With count_rollups=False the dashboard's rollups are left behind (RollupState stays where
    it was, so later appends do not count either) until rollups_catch_up counts the events
    from the table: for a bulk load, which counts them once at the end.
    """
    if not (events.events if isinstance(events, Prepared) else events):
        return []
    # Everything that does not depend on the position in the chain, before the lock.
    if not isinstance(events, Prepared):
        events = chain_prepare(events, received_at=received_at)
    events, received_at, prepared = events
    sha256 = hashlib.sha256
    with connection.cursor() as cursor:
        head_seq, head_hash = _lock_head(cursor)
        # Under the head lock no other writer can commit, so this duplicate check cannot race.
        ids = [event["event_id"] for event in events]
        cursor.execute(_STORED_IDS, [ids])
        existing = {row[0]: (row[1], bytes(row[2])) for row in cursor.fetchall()}

        results: list[Appended] = []
        rows = []
        seq, prev = head_seq, head_hash
        for event_id, (before, after, row) in zip(ids, prepared):
            if event_id in existing:
                stored_seq, stored_hash = existing[event_id]
                results.append(Appended(event_id, stored_seq, stored_hash, True))
                continue
            seq += 1
            digest = sha256(prev + before + b"%d" % seq + after).digest()
            rows.append((seq, received_at, *row, prev, digest))
            existing[event_id] = (seq, digest)
            results.append(Appended(event_id, seq, digest, False))
            prev = digest

        if rows:
            with cursor.cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = 1", [seq, prev])
            if count_rollups:
                # The dashboard's counts, in this transaction so they match the log exactly.
                rollups_apply(cursor, head_seq=head_seq, last_seq=seq)
            # Wakes the live view's listeners (apps.search.live); PostgreSQL delivers it on commit.
            cursor.execute("SELECT pg_notify('audit_events', %s)", [str(seq)])
            every = settings.AUDIT_CHECKPOINT_EVERY
            if every:
                # One checkpoint for each multiple of `every` the batch crossed, not only the last.
                for multiple in range(head_seq // every + 1, seq // every + 1):
                    _checkpoint_at(cursor, multiple * every, reason=Checkpoint.Reason.INTERVAL)
    return results


# --- checkpoints ---------------------------------------------------------------------------


def checkpoint_message(*, seq: int, hash: bytes, event_count: int, created_at: datetime, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers (RFC 8785 JSON, so others can rebuild them)."""
    return canonical_json({
        "seq": seq,
        "hash": hash_label(hash),
        "event_count": event_count,
        "created_at": format_time(created_at),
        "key_id": key_id,
    })


def _checkpoint_at(cursor, seq: int, *, reason: str) -> Checkpoint | None:
    cursor.execute("SELECT hash FROM audit_event WHERE seq = %s", [seq])
    row = cursor.fetchone()
    if row is None:
        return None
    # seq is gapless and only retention removes events (the oldest ones), so the events up to
    # `seq` are counted from the oldest stored seq through the primary key, not by a scan that
    # would hold the append lock for seconds on a large log.
    cursor.execute("SELECT min(seq) FROM audit_event")
    count = seq - cursor.fetchone()[0] + 1
    digest = bytes(row[0])
    created_at = timezone.now()
    kid = signing.key_id()
    signature = signing.sign(checkpoint_message(seq=seq, hash=digest, event_count=count, created_at=created_at, key_id=kid))
    checkpoint, _ = Checkpoint.objects.get_or_create(
        seq=seq,
        defaults=dict(hash=digest, event_count=count, created_at=created_at, reason=reason, key_id=kid, signature=signature),
    )
    return checkpoint


@transaction.atomic
def checkpoint_create(*, reason: str = Checkpoint.Reason.MANUAL) -> Checkpoint | None:
    """Sign the current head of the chain (no-op when it is already checkpointed or empty)."""
    with connection.cursor() as cursor:
        head_seq, _ = _lock_head(cursor)
        if head_seq == 0:
            return None
        existing = Checkpoint.objects.filter(seq=head_seq).first()
        return existing or _checkpoint_at(cursor, head_seq, reason=reason)


def checkpoint_signature_valid(checkpoint: Checkpoint, public_key=None) -> bool:
    key = public_key or signing.public_key()
    if public_key is None and checkpoint.key_id != signing.key_id():
        return False
    message = checkpoint_message(
        seq=checkpoint.seq, hash=bytes(checkpoint.hash), event_count=checkpoint.event_count,
        created_at=checkpoint.created_at, key_id=checkpoint.key_id,
    )
    try:
        key.verify(bytes(checkpoint.signature), message)
    except InvalidSignature:
        return False
    return True
