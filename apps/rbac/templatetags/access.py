"""Template helpers of the access pages."""
from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.simple_tag
def window(start, end) -> str:
    """A time window as people write it: `2026-01-01 → 2026-06-30` for whole days (UTC), else to the minute."""
    if start is None or end is None:
        return "any time"
    whole_days = all(moment.hour == moment.minute == moment.second == moment.microsecond == 0 for moment in (start, end))
    if whole_days:
        return f"{start:%Y-%m-%d} → {end - timedelta(days=1):%Y-%m-%d}"
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}"
