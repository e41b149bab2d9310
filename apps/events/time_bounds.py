"""Arithmetic on event times that cannot overflow.

Ingest accepts times from 1970 to a day ahead (apps.events.schema), but a log written before
that range was enforced, or an event appended by other means, may hold any time a datetime can:
0001-01-01 or 9999-12-31. A page that shows such an event adds and subtracts windows around it
("±15 minutes", "seen within the hour"); Python's datetime raises OverflowError past its years
1 to 9999, which was a 500 for everyone who could see the event. These clamp instead.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

EARLIEST = datetime.min.replace(tzinfo=dt_timezone.utc)
LATEST = datetime.max.replace(tzinfo=dt_timezone.utc)


def time_shift(value: datetime, delta: timedelta) -> datetime:
    """`value + delta`, or the first or last representable instant when that falls outside."""
    try:
        return value + delta
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST
