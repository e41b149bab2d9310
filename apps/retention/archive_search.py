"""Searching hot and warm events together ("include archive").

The warm segments (and cold ones restored to warm) are loaded into the session's temporary
table of archived events (archive_reads), which has the events table's columns; the same
condition (the query language and the list's filters, as one Q) and the same visibility rule
(`visible_to(principal)`) select from both, and one ordered UNION ALL pages through them.
Archived results carry `archived = True`. Cold segments that are not restored are not
searchable in place, as the issue says.

Cost: the searchable segments are read and loaded for each search; with `start_date` /
`end_date` only the segments and rows inside them are (bench/retention.py measures it). This
suits archives of some hundreds of thousands of events in the searched period, not the
issue's 10M-events-under-a-second target, which needs a columnar engine over the files
(DuckDB) with a translation of the query language and the visibility rule to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.parquet as pq
from django.db import transaction
from django.db.models import Q, Value
from django.utils import timezone

from apps.events.models import Event
from apps.retention.archive_reads import archive_table_create, archive_table_load
from apps.retention.models import ArchivedEvent, Segment
from apps.retention.segments import warm_path

FIELDS = tuple(f.attname for f in Event._meta.concrete_fields)


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
