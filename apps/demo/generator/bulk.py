"""Loading many demo events at once: the events table's secondary indexes are dropped for the
load and built again after it, while its GIN trigram index is kept and fed in large batches.

A million events appended with every index in place pay for each index row by row, so a large
seed drops every index of audit_event that is neither its primary key nor unique (those two
keep seq and event_id checked while appending), appends, and then builds them again exactly as
they were defined, on two connections at once, with memory for sorting raised for those
statements alone.

The GIN trigram index of free-text search (events 0005_search_indexes) is the exception. It is
by far the slowest to build (80 s for a million events on the 2-core bench machine, in one
process: PostgreSQL 15 cannot build a GIN index in parallel), and built after the load that
time adds to the seed's wall time, on one core. Kept in place instead, it is fed as the load
goes, by two backends at once: the connection that appends (its COPYs) computes each event's
trigrams and adds them to the index's pending list, which LOAD_SETTINGS makes large enough
never to be merged by the COPY itself; a thread of its own (_PendingMerger) merges the pending
list into the index over and over, each time as much as has come in since the last, with
memory to sort it, then waits MERGE_WAIT seconds. The merges run while the generator and the
COPYs do, so the index costs the load little wall time. Measured on a million demo events, the
same day (wall time of the whole seed): 153 s with the index built after the load; 154 s with
it fed by the COPYs alone (gin_pending_list_limit 64 MB, work_mem 256 MB: the COPY backend then
does all of the index's work, and the load waits for it); 117 s with the merges on a connection
of their own, back to back; 111 s with 4 s between merges (the merging backend used 32 s of CPU
rather than 44 s). The price is a larger index: fed this way the trigram index of a million demo
events takes about 640 MB (421 MB with merges back to back) against 270 MB built in one go, for
free-text searches that read as many pages as before (the pages they read are the table's).

Each dropped index is recorded with its definition in `audit_deferred_index` (migration events
0008) in the transaction that drops it, and removed from there in the transaction that builds
it again. A load that is killed half-way therefore leaves the list of what is missing, and
`indexes_restore` (which every seed_demo runs first) builds it.

While the indexes are gone, searches of the console are slow, and the rebuild holds a SHARE
lock on the table (reads go on, appends wait for it): this is for loading demo data, not for
a log in service.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, connections, transaction

# Memory for building one index (PostgreSQL's default is 64MB): a GIN index builds several times
# faster when its entries fit in memory. Two builds run at once.
GIN_MEMORY = "1GB"
BTREE_MEMORY = "256MB"
# For the connection that appends a bulk load (see the module's docstring): the COPYs add to a
# kept GIN index's pending list and never merge it themselves (this is the largest value
# PostgreSQL takes); _PendingMerger does, on its own connection.
LOAD_SETTINGS = {"gin_pending_list_limit": "2000MB"}
# How long _PendingMerger waits after a merge: each merge visits the index entry of every
# trigram it holds, so fewer, larger merges cost less in all.
MERGE_WAIT = 4.0

_SECONDARY_INDEXES = """
    SELECT i.relname, pg_get_indexdef(x.indexrelid), am.amname
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_am am ON am.oid = i.relam
    WHERE x.indrelid = 'audit_event'::regclass AND NOT x.indisprimary AND NOT x.indisunique
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
    ORDER BY i.relname
"""


@dataclass
class IndexRebuild:
    """What indexes_deferred did: the indexes it dropped and the seconds each took to build again."""

    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0


def kept_during_load(definition: str) -> bool:
    """Whether a bulk load keeps this index in place (the trigram ones) rather than dropping it."""
    return " USING gin " in definition and "gin_trgm_ops" in definition


def indexes_drop(*, keep_trigram: bool = False) -> list[str]:
    """Drop audit_event's secondary indexes (but the trigram ones, with keep_trigram), recording
    each definition; the names of those dropped."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_SECONDARY_INDEXES)
        found = [row for row in cursor.fetchall() if not (keep_trigram and kept_during_load(row[1]))]
        for name, definition, _ in found:
            cursor.execute("INSERT INTO audit_deferred_index (name, definition) VALUES (%s, %s) "
                           "ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition", [name, definition])
            cursor.execute(f'DROP INDEX "{name}"')
    return [name for name, _, _ in found]


def indexes_kept() -> list[str]:
    """The secondary indexes of audit_event a bulk load keeps in place."""
    with connection.cursor() as cursor:
        cursor.execute(_SECONDARY_INDEXES)
        return [name for name, definition, _ in cursor.fetchall() if kept_during_load(definition)]


def load_settings(cursor) -> None:
    """Set LOAD_SETTINGS for the session of the connection that appends a bulk load."""
    for name, value in LOAD_SETTINGS.items():
        cursor.execute("SELECT set_config(%s, %s, false)", [name, value])


def indexes_pending() -> list[tuple[str, str]]:
    """(name, definition) of the indexes a bulk load dropped and that are not built again yet."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, definition FROM audit_deferred_index ORDER BY name")
        return cursor.fetchall()


def indexes_restore(*, log: Callable[[str], None] | None = None, merge: list[str] = ()) -> IndexRebuild:
    """Build every recorded index again, two at a time (the slowest first), then ANALYZE.

    `merge` names GIN indexes kept during a load whose pending entries are merged into the
    index (gin_clean_pending_list) beside the builds, first, on one of the two connections.
    Each build is its own transaction with the record's removal, so whatever stops it half-way
    leaves exactly the indexes still missing on the list.
    """
    rebuild = IndexRebuild()
    pending = indexes_pending()
    if not pending and not merge:
        return rebuild
    began = time.perf_counter()
    # GIN indexes first: each is built by one process, and the trigram one takes longest.
    pending.sort(key=lambda item: (" USING gin " not in item[1], item[0]))
    work: queue.Queue = queue.Queue()
    for name in merge:
        work.put((name, None))
    for item in pending:
        work.put(item)
    errors: list[BaseException] = []

    def builder() -> None:
        try:
            while not errors:
                try:
                    name, definition = work.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                if definition is None:
                    _merge_pending(name, rebuild, log)
                    continue
                memory = GIN_MEMORY if " USING gin " in definition else BTREE_MEMORY
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL maintenance_work_mem = '{memory}'")
                    cursor.execute(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
                    cursor.execute("DELETE FROM audit_deferred_index WHERE name = %s", [name])
                rebuild.seconds[name] = time.perf_counter() - started
                if log:
                    log(f"  index {name} built in {rebuild.seconds[name]:.1f} s")
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
        finally:
            connections.close_all()

    if connection.in_atomic_block:
        # Inside a transaction (tests), the builds must be part of it: one connection.
        builders = []
        _build_inline(pending, rebuild, log, merge)
    else:
        builders = [threading.Thread(target=builder, name=f"index-build-{n}") for n in range(2)]
        for thread in builders:
            thread.start()
        for thread in builders:
            thread.join()
    if errors:
        raise errors[0]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
    rebuild.wall = time.perf_counter() - began
    return rebuild


def _merge_pending(name: str, rebuild: IndexRebuild, log) -> None:
    """Merge a kept GIN index's pending entries into it, so searches need not scan the list."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{GIN_MEMORY}'")
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [name])
        pages = cursor.fetchone()[0]
    rebuild.seconds[name] = time.perf_counter() - started
    if log:
        log(f"  index {name} kept during the load; its last {pages:,} pending pages merged in "
            f"{rebuild.seconds[name]:.1f} s")


def _build_inline(pending, rebuild: IndexRebuild, log, merge=()) -> None:
    for name in merge:
        _merge_pending(name, rebuild, log)
    with connection.cursor() as cursor:
        for name, definition in pending:
            started = time.perf_counter()
            cursor.execute(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
            cursor.execute("DELETE FROM audit_deferred_index WHERE name = %s", [name])
            rebuild.seconds[name] = time.perf_counter() - started
            if log:
                log(f"  index {name} built in {rebuild.seconds[name]:.1f} s")


@contextmanager
def indexes_deferred(*, log: Callable[[str], None] | None = None):
    """Drop audit_event's secondary indexes but the trigram ones for the block, and build them
    again after it, whether it ends normally or not (a KeyboardInterrupt included); merge the
    trigram ones' pending entries meanwhile (and once more after it). The block's appends should run
    with load_settings."""
    rebuild = IndexRebuild(dropped=indexes_drop(keep_trigram=True), kept=indexes_kept())
    if log and rebuild.dropped:
        log(f"  dropped {len(rebuild.dropped)} indexes of audit_event for the load; they are built again after it"
            + (f" ({', '.join(rebuild.kept)} kept and fed as the load goes)" if rebuild.kept else ""))
    # Inside a transaction (tests) the load is appended on the caller's connection, which a
    # merger's connection would not see: the pending entries are merged at the end only.
    merger = _PendingMerger(rebuild.kept) if rebuild.kept and not connection.in_atomic_block else None
    try:
        if merger:
            merger.start()
        yield rebuild
    finally:
        if merger:
            merger.stop()
        done = indexes_restore(log=log, merge=rebuild.kept)
        rebuild.seconds, rebuild.wall = done.seconds, done.wall


class _PendingMerger:
    """Merges the kept GIN indexes' pending entries into them (gin_clean_pending_list), over and
    over, on a connection of its own while a bulk load appends; see the module's docstring."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="bulk-gin-merge", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop after the merge under way (the restore merges what is left) and raise its error."""
        self.done.set()
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET maintenance_work_mem = '{GIN_MEMORY}'")
                while not self.done.is_set():
                    for name in self.names:
                        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [name])
                    self.done.wait(MERGE_WAIT)
        except BaseException as exc:  # handed to the loading thread
            self.error = exc
        finally:
            connections.close_all()
