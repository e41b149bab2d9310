"""The one cursor codec of every read of events.

A keyset cursor names the last event of a page by (occurred_at, seq), base64url without
padding: the viewer's Older/Newer links carry it bare. The API's cursor adds the order it runs
in and the page it leads to (`<keyset>.n3`), so a cursor cannot be replayed against the other
order, and seed 004's `page` stays right when following it. Both decoders accept a bare keyset.
"""
from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.events.models import Event


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


def cursor_encode(reads_cursor: str, *, order: str, page: int) -> str:
    """The API's cursor: the reads' keyset cursor, the order it runs in and the page it leads to.

    The order is kept so that a cursor cannot be replayed against the other order (it would
    silently skip everything), the page so that seed 004's `page` stays right when following it.
    """
    return f"{reads_cursor}.{order[0]}{page}"


def cursor_decode(cursor: str, *, order: str) -> tuple[str, int | None]:
    """(reads cursor, page) of an API cursor; BadCursor if it is not one, or runs the other way."""
    inner, dot, suffix = cursor.rpartition(".")
    if not dot:
        return cursor, None  # a bare keyset cursor (as the viewer makes them)
    if not (len(suffix) >= 2 and suffix[0] in "no" and suffix[1:].isdigit()) or not inner:
        raise BadCursor("the cursor is not one this API gave out")
    if suffix[0] != order[0]:
        raise BadCursor(f"the cursor was made for the {'newest' if suffix[0] == 'n' else 'oldest'}-first order; "
                        "send the same sort as the request that gave it")
    try:
        base64.urlsafe_b64decode(inner + "=" * (-len(inner) % 4))
    except (binascii.Error, ValueError):
        raise BadCursor("the cursor is not one this API gave out") from None
    return inner, int(suffix[1:])
