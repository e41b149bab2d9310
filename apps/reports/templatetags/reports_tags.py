from __future__ import annotations

from datetime import datetime, timedelta

from django import template

register = template.Library()


@register.filter
def num(value) -> str:
    if value is None or value == "":
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def _parse(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@register.filter
def when(value) -> str:
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


@register.filter
def minute(value) -> str:
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


@register.filter
def day(value) -> str:
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d") if moment else "—"


@register.filter
def last_day(value) -> str:
    """The last day a period's exclusive end covers."""
    moment = _parse(value)
    return (moment - timedelta(seconds=1)).strftime("%Y-%m-%d") if moment else "—"


@register.filter
def short_hash(value) -> str:
    text = str(value or "")
    return text if len(text) <= 24 else f"{text[:16]}…{text[-8:]}"


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""
