"""Loading many demo events at once: the events table's secondary indexes are dropped for the
load and built again after it.

A million events appended with every index in place pay for each index row by row: the GIN
trigram index of free-text search (events 0005_search_indexes) alone makes each COPY some
three times slower, and a GIN index built once from the whole table costs a fraction of the
same entries inserted one batch at a time. So a large seed drops every index of audit_event
that is neither its primary key nor unique (those two keep seq and event_id checked while
appending), appends, and then builds them again exactly as they were defined, on two
connections at once (the trigram index, the slowest and built by a single process, on one;
the others on the other), with memory for sorting raised for those statements alone.

Each index is recorded with its definition in `audit_deferred_index` (migration events 0008)
in the transaction that drops it, and removed from there in the transaction that builds it
again. A load that is killed half-way therefore leaves the list of what is missing, and
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
    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0


def indexes_drop() -> list[str]:
    """Drop audit_event's secondary indexes, recording each definition; their names."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_SECONDARY_INDEXES)
        found = cursor.fetchall()
        for name, definition, _ in found:
            cursor.execute("INSERT INTO audit_deferred_index (name, definition) VALUES (%s, %s) "
                           "ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition", [name, definition])
            cursor.execute(f'DROP INDEX "{name}"')
    return [name for name, _, _ in found]


def indexes_pending() -> list[tuple[str, str]]:
    """(name, definition) of the indexes a bulk load dropped and that are not built again yet."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, definition FROM audit_deferred_index ORDER BY name")
        return cursor.fetchall()


def indexes_restore(*, log: Callable[[str], None] | None = None) -> IndexRebuild:
    """Build every recorded index again, two at a time (the slowest first), then ANALYZE.

    Each build is its own transaction with the record's removal, so whatever stops it half-way
    leaves exactly the indexes still missing on the list.
    """
    rebuild = IndexRebuild()
    pending = indexes_pending()
    if not pending:
        return rebuild
    began = time.perf_counter()
    # GIN indexes first: each is built by one process, and the trigram one takes longest.
    pending.sort(key=lambda item: (" USING gin " not in item[1], item[0]))
    work: queue.Queue = queue.Queue()
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
        _build_inline(pending, rebuild, log)
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


def _build_inline(pending, rebuild: IndexRebuild, log) -> None:
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
    """Drop audit_event's secondary indexes for the block, and build them again after it,
    whether it ends normally or not (a KeyboardInterrupt included)."""
    rebuild = IndexRebuild(dropped=indexes_drop())
    if log and rebuild.dropped:
        log(f"  dropped {len(rebuild.dropped)} indexes of audit_event for the load; they are built again after it")
    try:
        yield rebuild
    finally:
        done = indexes_restore(log=log)
        rebuild.seconds, rebuild.wall = done.seconds, done.wall
