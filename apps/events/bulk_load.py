"""A bulk load's appends (an import of a large file): the search index kept off the chain's lock.

The events table indexes each event's text (its description, actor, resource and the whole of
its metadata) with a trigram GIN index, `event_search_trgm`. PostgreSQL puts new GIN entries in
a pending list and merges the list into the index when it grows past `gin_pending_list_limit`
(4 MB by default), in the session whose insert found it too long, inside that transaction:
for an append, under the chain-head lock, while no other append can run. Imported records are
large (a CloudTrail record is kept whole in metadata: some 660 trigrams, against 175 for a
typical API event), so those merges are a large share of an import's time: about half of the
database's work for CloudTrail records (bench/importers.py; appending prepared CloudTrail
events with the helper beside them went 1.8 to 1.9 times as fast, in interleaved runs).

`bulk_appends` lets a bulk load take them off that path: each append transaction it wraps
(`appending`) raises the pending list's limit for that transaction only (SET LOCAL: nothing
outlives it on a pooled connection), and a helper thread merges the list on a connection of its
own (gin_clean_pending_list, outside the chain-head lock) while the load goes on appending; at
the end it merges what is left, so searches never scan a long pending list after the load.
The index holds the same entries either way: only where and when they are merged changes.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)

SEARCH_INDEX = "event_search_trgm"
# The pending list's limit inside a bulk load's appends: the helper merges the list as fast as it
# can; should it fall this far behind, the append merges the list itself, as without a helper.
BULK_PENDING_LIMIT = "64MB"
# Memory for the helper's merges (maintenance_work_mem of its own session): the more entries
# one merge gathers, the fewer times it walks the index for one trigram.
MERGE_MEMORY = "64MB"
# The helper's pause when the list is empty.
IDLE_SECONDS = 0.2

# The owner's function of events 0016 (the console's role may not merge an index it does not own).
_CLEAN = "SELECT audit_search_merge_pending()"


class _Merger(threading.Thread):
    """Merges the search index's pending list, again and again, until told to stop."""

    def __init__(self, conninfo: dict) -> None:
        super().__init__(name="search-index-merger", daemon=True)
        self.conninfo = conninfo
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(**self.conninfo, autocommit=True) as merger:
                merger.execute(f"SET maintenance_work_mem = '{MERGE_MEMORY}'")
                while not self.stopping.is_set():
                    pages = merger.execute(_CLEAN).fetchone()[0]
                    if not pages:
                        self.stopping.wait(IDLE_SECONDS)
        except Exception:  # noqa: BLE001 - the load goes on without the helper: its appends merge the list themselves, as usual
            logger.warning("the search index's merging helper stopped; the load's appends merge the list themselves",
                           exc_info=True)


def _conninfo() -> dict:
    settings = connection.settings_dict
    info = {"dbname": settings["NAME"], "user": settings.get("USER") or None, "password": settings.get("PASSWORD") or None,
            "host": settings.get("HOST") or None, "port": settings.get("PORT") or None}
    return {key: value for key, value in info.items() if value is not None}


def _may_merge() -> bool:
    """Whether the search index is there and this role may merge its list (events 0016's function)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL AND has_function_privilege('audit_search_merge_pending()', 'EXECUTE')",
                       [SEARCH_INDEX])
        row = cursor.fetchone()
    return bool(row and row[0])


class BulkAppends:
    """What `bulk_appends` yields: `appending()` around each append transaction."""

    def __init__(self, merger: _Merger | None) -> None:
        self.merger = merger

    @contextmanager
    def appending(self) -> Iterator[None]:
        """Around one chain_append: while the helper merges, a transaction in which chain_append's
        own nests, with the pending list's limit raised in it alone."""
        if self.merger is None or not self.merger.is_alive():
            yield
            return
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL gin_pending_list_limit = '{BULK_PENDING_LIMIT}'")
            yield


@contextmanager
def bulk_appends(*, merge_aside: bool = True) -> Iterator[BulkAppends]:
    """A bulk load's appends: with merge_aside, the search index's pending list merged by a helper
    connection beside them, and all of it merged before this returns. Without it (a small
    import: an upload, an API call), appends are made as usual.
    """
    if not merge_aside or connection.in_atomic_block or not _may_merge():
        # Inside a caller's transaction (a test's) each append is not a transaction of its own;
        # without the index or the function, nothing to merge with. Appends are made as usual.
        yield BulkAppends(None)
        return
    merger = _Merger(_conninfo())
    merger.start()
    try:
        yield BulkAppends(merger)
    finally:
        merger.stopping.set()
        merger.join()
        # What is left of the list, merged by this session before the load ends (when the load
        # failed on a database error this may fail too: the error that ended the load is the one told).
        try:
            with connection.cursor() as cursor:
                cursor.execute(_CLEAN)
        except DatabaseError:
            logger.warning("the search index's pending list was left for PostgreSQL to merge", exc_info=True)
