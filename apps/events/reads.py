"""Reads of the log. Each starts from `Event.objects.visible_to(principal)`."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, DateTimeField, ExpressionWrapper, F, Func, Q, Value
from django.http import Http404

from apps.events.models import Event

COUNT_CAP = 10_000
# Matches at least this rare among all events are sorted rather than walked (see event_page).
WALK_SHARE = 200


class BadCursor(ValueError):
    pass


def encode_cursor(event: Event) -> str:
    raw = f"{event.occurred_at.isoformat()}|{event.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        occurred, _, seq = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        return datetime.fromisoformat(occurred), int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("the cursor is not one this API gave out") from None


@dataclass
class Page:
    """One page of events in display order.

    `next_cursor` continues after the last event (older ones when newest first), `prev_cursor`
    goes back before the first (newer ones when newest first); None when there is nothing
    there. Both are keyset cursors, so events arriving meanwhile neither repeat nor skip rows.
    """

    events: list[Event]
    total: int
    total_is_exact: bool
    next_cursor: str | None
    prev_cursor: str | None = None
    order: str = "newest"


ORDERS = ("newest", "oldest")


def event_page(*, principal, limit: int = 50, cursor: str | None = None, before: str | None = None,
               filters: Q | None = None, order: str = "newest", offset: int = 0) -> Page:
    """One page of visible events (keyset: no gaps, no repeats), newest first or oldest first.

    `cursor`: the page after that cursor in display order; `before`: the page before it (the
    "Newer" link of a newest-first list). Neither: the first page. BadCursor for a cursor this
    module did not make. The total is counted up to COUNT_CAP (`total_is_exact` says if it
    stopped there).
    """
    qs = Event.objects.visible_to(principal)
    if filters is not None:
        qs = qs.filter(filters)
    total, table_rows = _capped_count(qs)
    descending = order != "oldest"
    # Few matches (the count stopped short of the cap, and they are rare in the table): sort
    # them rather than walk an index in time order. PostgreSQL never estimates a LIKE or an OR
    # of them below 0.01% of the table, so for a rare word or id it expects the newest-first
    # walk of event_time_seq to meet 51 matches soon, and at 10M events walks the whole index
    # instead (28 s measured for a pasted id). Ordering by an expression no index holds makes
    # it fetch the matches through their own indexes and sort them: at most COUNT_CAP rows.
    # When the matches are at least one row in WALK_SHARE, though, any walk meets a page of
    # them within limit × WALK_SHARE rows, and the walk of the filter's own (column, time)
    # index is far cheaper than fetching thousands of rows to sort (at 1M events, severity=high
    # with 9,568 matches: 0.7 ms against 111 ms).
    few = _sorts_matches(total, table_rows)
    ordering = _ordering(newest_first=descending, unindexed=few)
    reverse = _ordering(newest_first=not descending, unindexed=few)

    def page(events, next_cursor, prev_cursor) -> Page:
        return Page(events=events, total=min(total, COUNT_CAP), total_is_exact=total <= COUNT_CAP,
                    next_cursor=next_cursor, prev_cursor=prev_cursor, order="newest" if descending else "oldest")

    if before:
        key = decode_cursor(before)
        rows = list(qs.filter(_beyond(key, older=not descending)).order_by(*reverse)[: limit + 1])
        if rows:
            has_prev = len(rows) > limit
            rows = rows[:limit][::-1]
            return page(rows, encode_cursor(rows[-1]), encode_cursor(rows[0]) if has_prev else None)
        cursor = None  # nothing before it any more: show the first page
    if cursor:
        key = decode_cursor(cursor)
        rows = list(qs.filter(_beyond(key, older=descending)).order_by(*ordering)[: limit + 1])
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        rows = rows[:limit]
        # The previous page is whatever precedes the first row shown (at least the cursor's event).
        return page(rows, next_cursor, encode_cursor(rows[0]) if rows else cursor)
    # `offset` (the API's offset and page) only applies to a first page; cursors are keysets.
    rows = list(qs.order_by(*ordering)[offset: offset + limit + 1])
    return page(rows[:limit], encode_cursor(rows[limit - 1]) if len(rows) > limit else None, None)


EXPORT_CHUNK = 2000


def event_export(*, principal, filters: Q | None = None, order: str = "oldest",
                 chunk: int = EXPORT_CHUNK) -> Iterator[list[Event]]:
    """Every visible event matching `filters`, in chunks of `chunk`, for exports.

    Memory stays constant whatever the number of events: each chunk is one query that resumes
    after the last event of the one before (a keyset on (occurred_at, seq), served by the
    event_time_seq index), so nothing is held but the chunk being written, and no server-side
    cursor or transaction stays open while the client downloads. Each chunk reads its own
    snapshot; to export a fixed set, bound the time window.
    """
    qs = Event.objects.visible_to(principal)
    if filters is not None:
        qs = qs.filter(filters)
    descending = order != "oldest"
    ordering = ("-occurred_at", "-seq") if descending else ("occurred_at", "seq")
    key = None
    while True:
        page = qs if key is None else qs.filter(_beyond(key, older=descending))
        rows = list(page.order_by(*ordering)[:chunk])
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        key = (rows[-1].occurred_at, rows[-1].seq)


def _sorts_matches(total: int, table_rows: float) -> bool:
    """Whether a page of `total` matches (counted up to the cap) is read by sorting them."""
    return total <= COUNT_CAP and total * WALK_SHARE < table_rows


def _capped_count(qs) -> tuple[int, float]:
    """(matches of `qs` counted up to COUNT_CAP + 1, the events table's rows as last estimated).

    The estimate is PostgreSQL's own (pg_class.reltuples, kept by ANALYZE and autovacuum), read
    in the same statement as the count so that it costs no round trip. Unknown (a table never
    analysed) counts as infinitely many, which keeps the safe choice of sorting few matches.
    """
    capped = qs.order_by().values("pk")[: COUNT_CAP + 1]
    try:
        sql, params = capped.query.sql_with_params()
    except EmptyResultSet:  # a condition that matches nothing (an empty IN): no need to ask
        return 0, float("inf")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM ({sql}) AS capped), "
            "(SELECT reltuples FROM pg_class WHERE oid = %s::regclass)",
            (*params, Event._meta.db_table),
        )
        total, rows = cursor.fetchone()
    return total, (rows if rows and rows > 0 else float("inf"))


def _ordering(*, newest_first: bool, unindexed: bool) -> tuple:
    """(occurred_at, seq) in one direction; `unindexed` spells the time so no index serves it."""
    time = ExpressionWrapper(F("occurred_at") + Value(timedelta(0)), output_field=DateTimeField()) if unindexed \
        else F("occurred_at")
    if newest_first:
        return time.desc(), F("seq").desc()
    return time.asc(), F("seq").asc()


def _beyond(key: tuple[datetime, int], *, older: bool) -> Q:
    """The events older than `key` (or newer, with older=False); (occurred_at, seq) is unique."""
    occurred, seq = key
    return Q(_KeysetBeyond("<" if older else ">", occurred, seq))


class _KeysetBeyond(Func):
    """`(occurred_at, seq) < (a, b)` (or `>`), a row comparison.

    It means `occurred_at < a OR (occurred_at = a AND seq < b)`, but PostgreSQL reads the row
    comparison as one range on the event_time_seq index, while for the OR it walks the index
    from its start and filters: every later page of a keyset would cost more than the one
    before (measured at 1M events: 0.8 ms against 310 ms for a chunk of 2,000).
    """

    output_field = BooleanField()

    def __init__(self, op: str, occurred: datetime, seq: int) -> None:
        if op not in ("<", ">"):
            raise ValueError(op)
        self.op = op
        # The model's own fields adapt the values (time zones, and warnings that name the field).
        super().__init__(F("occurred_at"), F("seq"), Value(occurred, output_field=Event._meta.get_field("occurred_at")),
                         Value(seq, output_field=Event._meta.get_field("seq")))

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = [], []
        for expression in self.get_source_expressions():
            part, part_params = compiler.compile(expression)
            sql.append(part)
            params.extend(part_params)
        return f"(({sql[0]}, {sql[1]}) {self.op} ({sql[2]}, {sql[3]}))", params


def event_get(*, principal, event_id: str) -> Event:
    """One visible event; Http404 when it does not exist or lies outside the principal's scope."""
    event = Event.objects.visible_to(principal).filter(event_id=event_id).first()
    if event is None:
        raise Http404("No such event")
    return event


def event_neighbours(*, event: Event) -> tuple[int | None, int | None]:
    """The seqs before and after an event in the chain (for the detail page's chain position)."""
    before = event.seq - 1 if event.seq > 1 else None
    return before, event.seq + 1
