"""Chain verification: recompute the chain over a range of seqs and name the first that fails.

`chain_verify` walks the stored events in seq order (cut into parts verified by forked
processes on one exported snapshot when the range is large), checks each event's hash against
its fields and its predecessor's hash, and the signatures of the checkpoints in the range.
`chain_links` and `events_verified` check single events against their neighbours, for the
viewer's "Verify this event" and the API's per-event `verification`. Appending and
checkpoints are apps.events.chain.

Past 400 lines because the walk reads events and retention's chain stubs as one sequence, and
its serial and parallel forms share the row format and the anchoring rules; cut in two, each
half would need the other's private details.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from django.db import connection, transaction

from apps.events.canonical import canonical_stored
from apps.events.chain import (
    _COLUMNS, _SORTED_FIELDS, CONTENT_FIELDS, GENESIS, checkpoint_signature_valid, content_of, event_hash, hash_label,
)
from apps.events.models import Checkpoint

logger = logging.getLogger(__name__)

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
    archived_checked: int = 0

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
# Events and the chain stubs retention left in place of archived ones, in one seq order. A
# stub carries no fields (its stretches are NULL) and is marked by the last column; a stub
# whose event is still stored (a retention run stopped between writing stubs and deleting)
# is left out, the event itself being walked.
_VERIFY_SELECT = (
    f"SELECT seq, {_STRETCHES[0]}, changes::text, {_STRETCHES[1]}, metadata::text, {_STRETCHES[2]}, prev_hash, hash,"
    " false AS stub FROM audit_event WHERE seq BETWEEN %s AND %s"
    " UNION ALL SELECT s.seq, NULL, NULL, NULL, NULL, NULL, s.prev_hash, s.hash, true FROM audit_chain_stub s"
    " WHERE s.seq BETWEEN %s AND %s AND NOT EXISTS (SELECT 1 FROM audit_event e WHERE e.seq = s.seq)"
    " ORDER BY 1"
)
# The hash of the entry at a seq, event or stub.
_HASH_AT = ("SELECT hash FROM audit_event WHERE seq = %(seq)s UNION ALL"
            " SELECT hash FROM audit_chain_stub WHERE seq = %(seq)s LIMIT 1")


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


# Checks of archived events' content, installed by the app that archives them (retention) so
# that the log imports no other app: each is called with (from_seq, to_seq) and returns the
# number of archived events it recomputed and the first failure, (seq, reason), or None.
_archive_checks: list = []


def archive_check_register(check) -> None:
    if check not in _archive_checks:
        _archive_checks.append(check)


def chain_verify(*, from_seq: int | None = None, to_seq: int | None = None, workers: int = 1,
                 with_archives: bool = False) -> Verification:
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
            " least(min(seq), (SELECT min(seq) FROM audit_chain_stub)),"
            " greatest(max(seq), (SELECT max(seq) FROM audit_chain_stub)),"
            " (SELECT max(seq) FROM audit_checkpoint) FROM audit_event"
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
        walk = None
        if parts > 1:
            # The parts read on connections of their own, from this transaction's snapshot.
            cursor.execute("SELECT pg_export_snapshot()")
            walk = _verify_parallel(cursor.fetchone()[0], start, end, expected_prev, checkpoint_hashes, parts)
        if walk is None:  # one part, or a child process died (killed, out of memory): the walk is made here
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
        if with_archives:
            # Each stub's own hash, recomputed from its archived fields.
            for check in _archive_checks:
                checked, failure = check(start, end)
                result.archived_checked += checked
                if failure:
                    return result.fail(*failure)
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
                rows.execute(_VERIFY_SELECT, [self.start, self.end, self.start, self.end])
                settings_cursor.execute("SELECT set_config('enable_sort', %s, true)", [previous])
            return self.walk(rows)

    def walk(self, rows) -> "_RangeWalk":
        expected_prev, expected_seq = self.anchor, self.start
        checkpoints, sha256, content_of_row = self.checkpoint_hashes, hashlib.sha256, _hashed_content
        after_stub = False
        for row in rows:
            seq, stored_prev, stored_hash, stub = row[0], row[-3], row[-2], row[-1]
            if seq != expected_seq:
                return self._fail(expected_seq, f"event #{expected_seq} is missing")
            if stored_prev != expected_prev:
                if after_stub:
                    # The entry's own prev_hash is covered by its hash; the stub's is not.
                    return self._fail(seq - 1, "the chain stub's hash does not match the next entry's prev_hash")
                return self._fail(seq, "prev_hash does not match the previous event's hash")
            after_stub = stub
            if stub:
                # An archived event: its fields are in a segment (--with-archives recomputes them).
                if seq in checkpoints and checkpoints[seq] != stored_hash:
                    return self._fail(seq, "the chain stub's hash differs from its signed checkpoint")
                expected_prev = stored_hash
                expected_seq += 1
                continue
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
                     parts: int) -> _RangeWalk | None:
    """Verify start..end in `parts` child processes, all reading the exported `snapshot`.

    Part k starts from the stored hash of the event before it, the last event of part k-1,
    whose own hash part k-1 recomputes: so the parts together check every link, and the first
    failure of the earliest failing part is the first failure of the whole walk, as a walk in
    one process would name it. The children are forked (the command is one thread) and talk to
    the database over their own connections, never the parent's.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    size = -(-(end - start + 1) // parts)
    ranges = [(first, min(first + size - 1, end)) for first in range(start, end + 1, size)]
    params = _connection_parameters()
    jobs = [(params, snapshot, first, last, anchor if first == start else None,
             {seq: digest for seq, digest in checkpoint_hashes.items() if first <= seq <= last})
            for first, last in ranges]
    try:
        with ProcessPoolExecutor(max_workers=len(jobs), mp_context=multiprocessing.get_context("fork")) as pool:
            walks = list(pool.map(_verify_part, jobs))
    except BrokenProcessPool:
        # A child ended without an answer (killed, out of memory; a fork taken while another
        # thread held a lock can do it too): the caller walks the range in this process.
        logger.warning("a verification process died; verifying #%s..#%s in one process", start, end)
        return None
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
            row = conn.execute(_HASH_AT, {"seq": first - 1}).fetchone()
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
        cursor.execute(_HASH_AT, {"seq": start - 1})
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
        # A neighbour retention archived is known by its chain stub (its hashes, no fields).
        cursor.execute("SELECT seq, prev_hash, hash FROM audit_chain_stub WHERE seq BETWEEN %s AND %s", [seq - 1, seq + 1])
        for stub_seq, stub_prev, stub_hash in cursor.fetchall():
            if stub_seq not in links:
                links[stub_seq] = Link(stub_seq, bytes(stub_prev), bytes(stub_hash), None, "archived by retention")
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
            # A predecessor retention archived is known by its chain stub.
            cursor.execute("SELECT seq, hash FROM audit_event WHERE seq = ANY(%s)"
                           " UNION ALL SELECT seq, hash FROM audit_chain_stub WHERE seq = ANY(%s)", [before, before])
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
