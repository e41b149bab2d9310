"""The hash chain: appending events under one lock, verifying them, signing checkpoints.

hash = SHA-256(prev_hash || RFC8785(content)), where content is every stored field but the
two hashes (seq, event_id and received_at included). The first event's prev_hash is 32 zero
bytes. Appends take a row lock on the single chain-head row, so seq is gapless and ordered
whatever the number of concurrent writers.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from operator import itemgetter
from datetime import datetime, timezone as dt_timezone
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.events import signing
from apps.events.canonical import (
    canonical_json, canonical_json_text, canonical_stored, canonical_text, encode_plain,
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
            # Wakes the live view's listeners (apps.events.live); PostgreSQL delivers it on commit.
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


# --- verification --------------------------------------------------------------------------


@dataclass
class Verification:
    valid: bool = True
    first_bad_seq: int | None = None
    reason: str = ""
    checked: int = 0
    from_seq: int | None = None
    to_seq: int | None = None
    last_hash: bytes | None = None
    checkpoints_checked: int = 0
    checkpoints: list[int] = field(default_factory=list)

    def fail(self, seq: int | None, reason: str) -> "Verification":
        self.valid, self.first_bad_seq, self.reason = False, seq, reason
        return self

    def as_dict(self) -> dict:
        return {
            "valid": self.valid,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason or None,
            "checked": self.checked,
            "from_seq": self.from_seq,
            "to_seq": self.to_seq,
            "last_hash": hash_label(self.last_hash) if self.last_hash else None,
            "checkpoints_checked": self.checkpoints_checked,
        }


_FETCH = 5000

# Verification has PostgreSQL write the canonical JSON of every column but changes and metadata,
# in C, as three stretches of text around those two: RFC 8785 sorts the content's keys, and the
# keys are always the same, so the stretches are fixed key text joined with each value in its
# hashed spelling. to_json(text) escapes exactly as RFC 8785 (and Python's encoder) do: `"`, `\`,
# \b \f \n \r \t, other control characters as \u00xx in lower case, nothing else. Timestamps
# come as UTC with six fractional digits and `Z`, addresses as PostgreSQL prints them (a stored
# value carrying a netmask keeps it and so fails to match), seq, status code and tags as JSON.
# Python is left with changes and metadata, stored jsonb text whose keys PostgreSQL orders its
# own way, which it canonicalises; it builds no datetime, address or dict per row, and psycopg
# builds 8 values a row rather than 33. A NULL in a text column (the schema forbids it) makes
# its stretch NULL, which cannot be joined and is reported as fields that cannot be serialised.
_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_AS_JSON = {
    "seq": "seq::text",
    "occurred_at": f"'\"' || to_char(occurred_at AT TIME ZONE 'UTC', '{_TIME_FORMAT}') || '\"'",
    "received_at": f"'\"' || to_char(received_at AT TIME ZONE 'UTC', '{_TIME_FORMAT}') || '\"'",
    "ip_address": "CASE WHEN ip_address IS NULL THEN 'null' ELSE '\"' || CASE WHEN masklen(ip_address) = "
                  "CASE family(ip_address) WHEN 4 THEN 32 ELSE 128 END THEN host(ip_address) "
                  "ELSE text(ip_address) END || '\"' END",
    "status_code": "coalesce(status_code::text, 'null')",
    "tags": "to_json(coalesce(tags, '{}'))::text",
}
# Canonicalised in Python, from the stored jsonb text.
_IN_PYTHON = ("changes", "metadata")


def _verify_stretches() -> list[str]:
    """SQL for the canonical text between (and around) the fields canonicalised in Python."""
    stretches, parts, opening = [], [], "{"
    for name in _SORTED_FIELDS:
        key = "'" + opening + f'"{name}":' + "'"
        opening = ","
        if name in _IN_PYTHON:
            stretches.append(" || ".join([*parts, key]))
            parts = []
            continue
        parts += [key, _AS_JSON.get(name, f"to_json({name})::text")]
    stretches.append(" || ".join([*parts, "'}'"]))
    return stretches


_STRETCHES = _verify_stretches()
assert len(_STRETCHES) == 3 and _SORTED_FIELDS.index("changes") < _SORTED_FIELDS.index("metadata")
_VERIFY_SELECT = (
    f"SELECT seq, {_STRETCHES[0]}, changes::text, {_STRETCHES[1]}, metadata::text, {_STRETCHES[2]}, prev_hash, hash"
    " FROM audit_event WHERE seq BETWEEN %s AND %s ORDER BY audit_event.seq"
)


def _hashed_content(row) -> bytes:
    """The canonical bytes of an event read with _VERIFY_SELECT."""
    changes = row[2]
    return "".join((row[1], "null" if changes is None else canonical_stored(changes), row[3],
                    canonical_stored(row[4]), row[5])).encode("utf-8")


# Verifying in several processes pays from about this many events per process on (a child
# costs a fork, a connection and a snapshot import, some tens of milliseconds).
PARALLEL_MIN_EVENTS = 20_000


def verify_parts(count: int, workers: int) -> int:
    """How many parts chain_verify cuts a walk of `count` events into, given `workers`."""
    return max(1, min(workers, count // PARALLEL_MIN_EVENTS))


def chain_verify(*, from_seq: int | None = None, to_seq: int | None = None, workers: int = 1) -> Verification:
    """Recompute the chain over [from_seq, to_seq] and name the first seq that does not match.

    A range that starts after the first stored event is anchored on the stored hash of the
    event before it (itself covered by the same check when the whole chain is verified) or on
    a signed checkpoint.

    With workers > 1 (manage.py verify_chain), a long range is cut into up to that many parts
    (of PARALLEL_MIN_EVENTS events at least) verified at once by child processes, each on its
    own connection reading the same snapshot as this one; see _verify_parallel. Inside a
    caller's transaction the walk stays in it, on its connection.
    """
    result = Verification(from_seq=from_seq, to_seq=to_seq)
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # One snapshot for the whole walk, so rows appended meanwhile do not shift it.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # One statement, so one snapshot even inside a caller's READ COMMITTED transaction:
        # read separately, an append committing in between would make the head and the last
        # stored event disagree and look like events removed from the end.
        cursor.execute(
            "SELECT (SELECT seq FROM audit_chain_head WHERE id = 1), (SELECT hash FROM audit_chain_head WHERE id = 1),"
            " min(seq), max(seq), (SELECT max(seq) FROM audit_checkpoint) FROM audit_event"
        )
        head_seq, head_hash, first_stored, last_stored, last_checkpoint = cursor.fetchone()
        head_seq, head_hash = head_seq or 0, bytes(head_hash or GENESIS)
        if first_stored is None:
            if head_seq != 0:
                return result.fail(1, f"the chain head says {head_seq} events, but none are stored")
            if last_checkpoint is not None:
                return result.fail(1, f"a checkpoint was signed at #{last_checkpoint}, but no events are stored")
            return result
        start = max(from_seq or first_stored, first_stored)
        end = min(to_seq or last_stored, last_stored)
        result.from_seq, result.to_seq = start, end
        if start > end:
            return result

        expected_prev = _anchor(cursor, start, first_stored)
        if isinstance(expected_prev, str):
            return result.fail(start, expected_prev)

        cursor.execute("SELECT seq, hash FROM audit_checkpoint WHERE seq BETWEEN %s AND %s", [start, end])
        checkpoint_hashes = {row[0]: bytes(row[1]) for row in cursor.fetchall()}

        parts = verify_parts(end - start + 1, workers) if outermost else 1
        if parts > 1:
            # The parts read on connections of their own, from this transaction's snapshot.
            cursor.execute("SELECT pg_export_snapshot()")
            walk = _verify_parallel(cursor.fetchone()[0], start, end, expected_prev, checkpoint_hashes, parts)
        else:
            walk = _RangeWalk(start, end, expected_prev, checkpoint_hashes).run(connection.connection)
        if walk.bad_seq is not None:
            return result.fail(walk.bad_seq, walk.reason)
        result.checked, result.last_hash = walk.checked, walk.last_hash
        if end == last_stored and (head_seq != last_stored or head_hash != walk.last_hash):
            return result.fail(last_stored + 1 if head_seq > last_stored else last_stored,
                               "the chain head does not match the last stored event (events removed from the end?)")
        if end == last_stored and last_checkpoint is not None and last_checkpoint > last_stored:
            # Whoever removed the newest events also moved the head back; the signature they
            # cannot forge still says the chain was longer.
            return result.fail(last_stored + 1, f"a checkpoint was signed at #{last_checkpoint}, but the log ends at "
                                                f"#{last_stored} (events removed from the end?)")
        result.checkpoints = sorted(checkpoint_hashes)
    return _verify_checkpoint_signatures(result)


@dataclass
class _RangeWalk:
    """Recompute the hashes of the stored events start..end from `anchor`, the hash the first
    of them must name as prev_hash; stop at the first that does not match."""

    start: int
    end: int
    anchor: bytes
    checkpoint_hashes: dict[int, bytes]
    checked: int = 0
    last_hash: bytes | None = None
    bad_seq: int | None = None
    reason: str = ""

    def run(self, conn) -> "_RangeWalk":
        """Walk the range through a server-side cursor of `conn`, a psycopg connection in a
        transaction (binary rows: bytea arrives as bytes, not as hex to decode)."""
        with conn.cursor(name=f"chain_verify_{self.start}", binary=True) as rows:
            rows.itersize = _FETCH
            # The rows must come in seq order, and from the primary key they do, at no cost: with
            # statistics that underestimate the range (a table just filled) the planner would
            # rather sort them, which for a long range means a sort of the whole log on disk.
            with conn.cursor() as settings_cursor:
                settings_cursor.execute(
                    "SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)")
                previous = settings_cursor.fetchone()[0]
                rows.execute(_VERIFY_SELECT, [self.start, self.end])
                settings_cursor.execute("SELECT set_config('enable_sort', %s, true)", [previous])
            return self.walk(rows)

    def walk(self, rows) -> "_RangeWalk":
        expected_prev, expected_seq = self.anchor, self.start
        checkpoints, sha256, content_of_row = self.checkpoint_hashes, hashlib.sha256, _hashed_content
        for row in rows:
            seq, stored_prev, stored_hash = row[0], row[-2], row[-1]
            if seq != expected_seq:
                return self._fail(expected_seq, f"event #{expected_seq} is missing")
            if stored_prev != expected_prev:
                return self._fail(seq, "prev_hash does not match the previous event's hash")
            try:
                digest = sha256(expected_prev + content_of_row(row)).digest()
            except (ValueError, TypeError) as exc:
                return self._fail(seq, f"stored fields cannot be serialised: {exc}")
            if digest != stored_hash:
                return self._fail(seq, "the stored fields do not match the event's hash")
            if seq in checkpoints and checkpoints[seq] != digest:
                return self._fail(seq, "the event's hash differs from its signed checkpoint")
            expected_prev = digest
            expected_seq += 1
        self.checked = expected_seq - self.start
        if expected_seq != self.end + 1:
            return self._fail(expected_seq, f"event #{expected_seq} is missing")
        self.last_hash = expected_prev
        return self

    def _fail(self, seq: int, reason: str) -> "_RangeWalk":
        self.bad_seq, self.reason = seq, reason
        return self


_LIBPQ_PARAMETERS = (
    "dbname", "user", "host", "hostaddr", "port", "password", "passfile", "sslmode", "sslrootcert", "sslcert",
    "sslkey", "options", "application_name", "client_encoding", "connect_timeout", "service", "target_session_attrs",
)


def _connection_parameters() -> dict:
    """Django's parameters for a new connection to its database, less its adapters and cursor class."""
    return {key: value for key, value in connection.get_connection_params().items() if key in _LIBPQ_PARAMETERS}


def _verify_parallel(snapshot: str, start: int, end: int, anchor: bytes, checkpoint_hashes: dict[int, bytes],
                     parts: int) -> _RangeWalk:
    """Verify start..end in `parts` child processes, all reading the exported `snapshot`.

    Part k starts from the stored hash of the event before it, the last event of part k-1,
    whose own hash part k-1 recomputes: so the parts together check every link, and the first
    failure of the earliest failing part is the first failure of the whole walk, as a walk in
    one process would name it. The children are forked (the command is one thread) and talk to
    the database over their own connections, never the parent's.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-(end - start + 1) // parts)
    ranges = [(first, min(first + size - 1, end)) for first in range(start, end + 1, size)]
    params = _connection_parameters()
    jobs = [(params, snapshot, first, last, anchor if first == start else None,
             {seq: digest for seq, digest in checkpoint_hashes.items() if first <= seq <= last})
            for first, last in ranges]
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=multiprocessing.get_context("fork")) as pool:
        walks = list(pool.map(_verify_part, jobs))
    whole = _RangeWalk(start, end, anchor, checkpoint_hashes)
    for walk in walks:
        if walk.bad_seq is not None:
            return whole._fail(walk.bad_seq, walk.reason)
        whole.checked += walk.checked
        whole.last_hash = walk.last_hash
    return whole


def _verify_part(job) -> _RangeWalk:
    """Verify one part of a walk in a child process, on a connection of its own reading the
    exported snapshot of chain_verify's transaction."""
    import psycopg

    params, snapshot, first, last, anchor, checkpoint_hashes = job
    conn = psycopg.connect(**params)
    try:
        # The transaction psycopg opens for the first statement is REPEATABLE READ, so the
        # snapshot can be imported as that first statement.
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        if anchor is None:
            row = conn.execute("SELECT hash FROM audit_event WHERE seq = %s", [first - 1]).fetchone()
            if row is None:
                # The part before ends on this missing event and names it.
                missing = _RangeWalk(first, last, GENESIS, checkpoint_hashes)
                return missing._fail(first - 1, f"event #{first - 1} is missing")
            anchor = bytes(row[0])
        return _RangeWalk(first, last, anchor, checkpoint_hashes).run(conn)
    finally:
        conn.close()


def _anchor(cursor, start: int, first_stored: int):
    """The hash the event at `start` must name as prev_hash, or a reason why there is none."""
    if start == 1:
        return GENESIS
    if start > first_stored:
        cursor.execute("SELECT hash FROM audit_event WHERE seq = %s", [start - 1])
        row = cursor.fetchone()
        if row is None:
            return f"event #{start - 1} is missing"
        return bytes(row[0])
    # The oldest events were removed by retention: trust starts at its signed checkpoint.
    checkpoint = Checkpoint.objects.filter(seq=start - 1).first()
    if checkpoint is None or not checkpoint_signature_valid(checkpoint):
        return f"events before #{start} are gone and no valid signed checkpoint covers #{start - 1}"
    return bytes(checkpoint.hash)


def _verify_checkpoint_signatures(result: Verification) -> Verification:
    for checkpoint in Checkpoint.objects.filter(seq__in=result.checkpoints):
        if not checkpoint_signature_valid(checkpoint):
            return result.fail(checkpoint.seq, "the checkpoint's signature does not verify")
        result.checkpoints_checked += 1
    return result


@dataclass(frozen=True)
class Link:
    """One stored event as the chain sees it: its stored hashes and the hash its fields give."""

    seq: int
    prev_hash: bytes
    hash: bytes
    recomputed: bytes | None
    problem: str = ""


def chain_links(*, seq: int) -> tuple[dict[int, Link], tuple[int, bytes]]:
    """The links of events seq-1, seq and seq+1 (those stored), and the chain head (seq, hash).

    For checking one event against its neighbours (the viewer's "Verify this event"): the
    neighbours are read whatever the reader may see, since only the comparison is shown.
    """
    links: dict[int, Link] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS}, prev_hash, hash FROM audit_event WHERE seq BETWEEN %s AND %s ORDER BY seq",
            [seq - 1, seq + 1],
        )
        for row in cursor.fetchall():
            stored_prev, stored_hash = bytes(row[-2]), bytes(row[-1])
            try:
                recomputed, problem = event_hash(stored_prev, content_of(dict(zip(CONTENT_FIELDS, row)))), ""
            except (ValueError, TypeError) as exc:
                recomputed, problem = None, f"stored fields cannot be serialised: {exc}"
            links[row[0]] = Link(row[0], stored_prev, stored_hash, recomputed, problem)
        cursor.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1")
        head = cursor.fetchone()
    return links, (head[0], bytes(head[1])) if head else (0, GENESIS)


def events_verified(events) -> dict[int, bool]:
    """For each event (already read through the visibility rule): does it hold in the chain?

    True when its stored fields and prev_hash give its stored hash, and its prev_hash is the
    stored hash of the event before it (or of the signed checkpoint retention left there, or 32
    zero bytes for the first). For a page of the API (seed 004's `verification.verified`): one
    query for the predecessors, one for checkpoints standing in for removed ones. The whole
    walk, with the checkpoints' signatures, is `chain_verify`.
    """
    events = list(events)
    before = sorted({event.seq - 1 for event in events if event.seq > 1})
    stored: dict[int, bytes] = {}
    if before:
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, hash FROM audit_event WHERE seq = ANY(%s)", [before])
            stored = {seq: bytes(value) for seq, value in cursor.fetchall()}
        missing = [seq for seq in before if seq not in stored]
        if missing:
            checkpoints = Checkpoint.objects.filter(seq__in=missing)
            stored.update({cp.seq: bytes(cp.hash) for cp in checkpoints if checkpoint_signature_valid(cp)})
    verified = {}
    for event in events:
        prev_hash = bytes(event.prev_hash)
        expected_prev = GENESIS if event.seq == 1 else stored.get(event.seq - 1)
        try:
            recomputed = event_hash(prev_hash, content_of({name: getattr(event, name) for name in CONTENT_FIELDS}))
        except (ValueError, TypeError):
            recomputed = None
        verified[event.seq] = recomputed == bytes(event.hash) and expected_prev == prev_hash
    return verified
