"""Template filters of the event viewer: times in the user's zone, counts, the query caret."""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

from django import template

register = template.Library()


@register.filter
def utc(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time in UTC (the console's reference time), e.g. 2026-03-10 14:30:45."""
    if value is None:
        return ""
    return value.astimezone(dt_timezone.utc).strftime(fmt)


@register.filter
def in_zone(value: datetime | None, zone) -> str:
    """The same time in the user's zone with its offset name, e.g. 20:30:45 +06; the date too when it differs."""
    if value is None or zone is None:
        return ""
    local = value.astimezone(zone)
    same_day = local.date() == value.astimezone(dt_timezone.utc).date()
    return local.strftime("%H:%M:%S %Z" if same_day else "%b %d %H:%M:%S %Z")


@register.filter
def thousands(value) -> str:
    """12345 → 12,345."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def query_parts(error) -> dict:
    """The query of a QueryError split around the offending part, for underlining it.

    Returns before, bad (at least one character: a space when the problem is the end) and
    after, plus the column.
    """
    text = (error.query or "").replace("\n", " ")
    start = min(error.position, len(text))
    end = max(start + 1, min(error.end, len(text)))
    bad = text[start:end] or " "
    return {"before": text[:start], "bad": bad, "after": text[end:], "column": error.column,
            "message": error.message}


@register.filter
def backticks(text: str):
    """Help text with `code` spans set as <code> (every part escaped first)."""
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: show the text as it is
        return escape(text)
    return mark_safe("".join(f"<code>{escape(part)}</code>" if index % 2 else escape(part)
                             for index, part in enumerate(parts)))
