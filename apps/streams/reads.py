"""Every read of events a stream makes: through the visibility rule, as the destination's owner."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from apps.events.models import Event
from apps.events.query import parse_query

LAG_CAP = 100_000


def _matching(destination):
    qs = Event.objects.visible_to(destination.owner)
    if destination.query.strip():
        qs = qs.filter(parse_query(destination.query, now=timezone.now()))
    return qs


def stream_events_after(destination, *, after_seq: int, limit: int) -> list[Event]:
    """The next `limit` events for `destination` after `after_seq`, in seq order."""
    return list(_matching(destination).filter(seq__gt=after_seq).order_by("seq")[:limit])


def stream_events_by_seq(destination, seqs: list[int]) -> list[Event]:
    return list(Event.objects.visible_to(destination.owner).filter(seq__in=seqs).order_by("seq"))


def stream_preview_events(destination, *, limit: int = 3) -> list[Event]:
    """The newest events the destination would send, newest last."""
    return list(reversed(_matching(destination).order_by("-seq")[:limit]))


def stream_lag(destination) -> tuple[int, float | None]:
    """(undelivered matching events, counted up to LAG_CAP; seconds since the oldest of them was stored)."""
    after = _matching(destination).filter(seq__gt=destination.cursor_seq)
    count = after.order_by("seq")[:LAG_CAP].count()
    oldest = after.order_by("seq").values_list("received_at", flat=True).first()
    return count, (timezone.now() - oldest).total_seconds() if oldest else None


def stream_seq_at(destination, when: datetime) -> int:
    """The seq to restart after so that events stored from `when` on are sent again."""
    first = Event.objects.visible_to(destination.owner).filter(Q(received_at__gte=when)).order_by("seq") \
        .values_list("seq", flat=True).first()
    return (first - 1) if first else destination.cursor_seq
