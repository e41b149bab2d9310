"""Reads of the log. Each starts from `Event.objects.visible_to(principal)`."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.http import Http404

from apps.events.models import Event

COUNT_CAP = 10_000


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
    events: list[Event]
    total: int
    total_is_exact: bool
    next_cursor: str | None


def event_page(*, principal, limit: int = 50, cursor: str | None = None, filters: Q | None = None) -> Page:
    """One page of visible events, newest first, after `cursor` (keyset: no gaps, no repeats)."""
    qs = Event.objects.visible_to(principal)
    if filters is not None:
        qs = qs.filter(filters)
    total = qs.order_by()[: COUNT_CAP + 1].count()
    page_qs = qs.newest_first()
    if cursor:
        occurred, seq = decode_cursor(cursor)
        page_qs = page_qs.filter(Q(occurred_at__lt=occurred) | Q(occurred_at=occurred, seq__lt=seq))
    events = list(page_qs[: limit + 1])
    next_cursor = encode_cursor(events[limit - 1]) if len(events) > limit else None
    return Page(events=events[:limit], total=min(total, COUNT_CAP), total_is_exact=total <= COUNT_CAP, next_cursor=next_cursor)


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
