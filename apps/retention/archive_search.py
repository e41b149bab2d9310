"""Searching hot and warm events together ("include archive").

Two paths, the same answer:

- the fast one (archive_page): DuckDB reads the segment files in place, with the condition
  and the visibility rule translated to it, and PostgreSQL confirms each archived row shown
  (apps.retention.warm_search says how, and why nothing can be shown that the rule hides);
- the exact one (archive_page_exact), for a condition DuckDB is not given or a row it is not
  confirmed on: the searchable segments are loaded into the session's temporary table of
  archived events (archive_reads), which has the events table's columns, and the same
  condition (the query language and the list's filters, as one Q) and the same visibility
  rule (`visible_to(principal)`) select from both tables in one ordered UNION ALL. It loads
  the segments for each search: fine for some hundreds of thousands of events in the period.

Archived results carry `archived = True`. Cold segments that are not restored are not
searchable in place, as the issue says.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db import transaction
from django.db.models import Q, Value
from django.utils import timezone

from apps.events.models import Event
from apps.retention.archive_reads import archive_table_create, archive_table_load
from apps.retention.models import ArchivedEvent, Segment
from apps.rbac.scoping import event_scope
from apps.retention.segments import COLUMNS, warm_path
from apps.retention.warm_search import condition_time_bounds, warm_rows
from apps.retention.warm_sql import Untranslatable

FIELDS = tuple(f.attname for f in Event._meta.concrete_fields)
logger = logging.getLogger(__name__)


@dataclass
class ArchivePage:
    events: list = field(default_factory=list)
    total: int = 0
    segments_searched: int = 0


def searchable_segments(*, start=None, end=None) -> list[Segment]:
    """The segments searchable in place, those whose events' times meet [start, end) when given
    (from their manifests' oldest and newest event)."""
    now = timezone.now()
    segments = Segment.objects.filter(Q(state=Segment.State.WARM) | Q(state=Segment.State.COLD, restored_until__gt=now))
    if start is not None:
        segments = segments.filter(newest_at__gte=start)
    if end is not None:
        segments = segments.filter(oldest_at__lt=end)
    return [segment for segment in segments.order_by("first_seq") if warm_path(segment.file_name).exists()]


def time_bounds(params) -> tuple:
    """Loose bounds from the list's `start_date` / `end_date`, for skipping segments: never
    narrower than the filters themselves (which still apply), None when not given or not
    plainly ISO 8601."""
    from datetime import datetime, time, timedelta, timezone as dt_timezone

    def parse(text, *, end):
        text = (text or "").strip()
        if not text:
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if len(text) == 10:  # a date alone: its whole day
            value = datetime.combine(value.date(), time(), tzinfo=dt_timezone.utc) + (timedelta(days=1) if end else timedelta())
        elif end:
            value += timedelta(seconds=1)
        return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)

    return parse(params.get("start_date"), end=False), parse(params.get("end_date"), end=True)


def archive_page(*, principal, condition: Q, limit: int, offset: int = 0, order: str = "newest",
                 start=None, end=None) -> ArchivePage:
    """A page of the events `principal` may see matching `condition`, hot and archived alike,
    newest (or oldest) first. Each event is an unsaved Event with `.archived` set. `start` and
    `end` (optional, loose) skip the segments whose events all lie outside them."""
    try:
        page = _archive_page_fast(principal=principal, condition=condition, limit=limit, offset=offset,
                                  order=order, start=start, end=end)
    except Untranslatable as reason:
        logger.info("include-archive search on the exact path: %s", reason)
        page = None
    if page is None:
        page = archive_page_exact(principal=principal, condition=condition, limit=limit, offset=offset,
                                  order=order, start=start, end=end)
    return page


def _tighter(bound, other, *, low: bool):
    if bound is None or other is None:
        return bound if other is None else other
    return max(bound, other) if low else min(bound, other)


def _archive_page_fast(*, principal, condition: Q, limit, offset, order, start, end) -> ArchivePage | None:
    """The DuckDB path (warm_search); None when PostgreSQL does not confirm a row it found."""
    scoped = event_scope(principal) & condition if condition else event_scope(principal)
    low, high = condition_time_bounds(scoped)
    # Segments whose manifest's events all lie outside the bounds are never opened.
    segments = searchable_segments(start=_tighter(start, low, low=True), end=end)
    if high is not None and (end is None or high < end):
        segments = [s for s in segments if s.oldest_at is None or s.oldest_at <= high]
    newest = order != "oldest"
    warm = warm_rows(files=[str(warm_path(s.file_name)) for s in segments], condition=scoped,
                     limit=offset + limit, newest_first=newest)
    hot = Event.objects.visible_to(principal).filter(condition).values(*FIELDS)
    ordering = ("-occurred_at", "-seq") if newest else ("occurred_at", "seq")
    hot_total = hot.count()
    hot_rows = [dict(row, archived=False) for row in hot.order_by(*ordering)[:offset + limit]] if hot_total else []
    warm_list = [dict(row, archived=True) for row in warm_events(warm.rows)]
    both = sorted(hot_rows + warm_list, key=lambda row: (row["occurred_at"], row["seq"]), reverse=newest)
    shown = both[offset:offset + limit]
    archived_seqs = {row["seq"] for row in shown if row["archived"]}
    if archived_seqs and not _confirmed(principal, condition, warm.rows, archived_seqs):
        logger.warning("include-archive search: PostgreSQL did not confirm an archived row DuckDB found; "
                       "answering on the exact path")
        return None
    page = ArchivePage(total=hot_total + warm.total, segments_searched=len(segments))
    for row in shown:
        archived = row.pop("archived")
        event = Event(**row)
        event.archived = archived
        page.events.append(event)
    return page


def warm_events(rows) -> list[dict]:
    """Segment rows (Arrow, as warm_rows reads them) as Event field values."""
    if rows.num_rows == 0:
        return []
    events = []
    for row in rows.select([name for name in FIELDS]).to_pylist():
        row["tags"] = json.loads(row["tags"]) if row["tags"] else []
        for name in ("changes", "metadata"):
            row[name] = json.loads(row[name]) if row[name] is not None else None
        events.append(row)
    return events


def _confirmed(principal, condition: Q, rows, seqs: set[int]) -> bool:
    """Whether PostgreSQL's visibility rule and condition keep every archived row in `seqs`."""
    chosen = rows.filter(pc.is_in(rows.column("seq"), value_set=pa.array(sorted(seqs), pa.int64())))
    with transaction.atomic():
        archive_table_create()
        archive_table_load(chosen.select(list(COLUMNS)))
        kept = set(ArchivedEvent.objects.visible_to(principal).filter(condition).values_list("seq", flat=True))
    return kept == seqs


def archive_page_exact(*, principal, condition: Q, limit: int, offset: int = 0, order: str = "newest",
                       start=None, end=None) -> ArchivePage:
    """archive_page through PostgreSQL alone: the segments loaded into the session's table."""
    page = ArchivePage()
    with transaction.atomic():
        archive_table_create()
        # Only the rows inside the loose bounds are loaded: pyarrow skips row groups by their
        # statistics and filters the rest (the condition still decides what matches).
        filters = [("occurred_at", ">=", start)] if start is not None else []
        filters += [("occurred_at", "<", end)] if end is not None else []
        for segment in searchable_segments(start=start, end=end):
            archive_table_load(pq.read_table(warm_path(segment.file_name), filters=filters or None, use_threads=False))
            page.segments_searched += 1
        hot = Event.objects.visible_to(principal).filter(condition).values(*FIELDS).annotate(archived=Value(False))
        warm = ArchivedEvent.objects.visible_to(principal).filter(condition).values(*FIELDS).annotate(
            archived=Value(True))
        both = hot.union(warm, all=True)
        page.total = both.count()
        ordering = ("-occurred_at", "-seq") if order == "newest" else ("occurred_at", "seq")
        for row in both.order_by(*ordering)[offset:offset + limit]:
            archived = row.pop("archived")
            event = Event(**row)
            event.archived = archived
            page.events.append(event)
    return page
