"""Time zone names a console user may choose, and the zone their preference names.

The preference itself (UserPreference, in apps.rbac.models) lives in this layer, below the
feature apps, so that the viewer, the dashboard and reports all show times in the user's zone
without importing one another.
"""
from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError

UTC_NAMES = ("UTC", "Etc/UTC")


def validate_time_zone(value: str) -> None:
    """An IANA time zone name this server knows (`Europe/Paris`, `Asia/Dhaka`, `UTC`)."""
    if value not in _time_zones():
        raise ValidationError("%(value)s is not a time zone name such as Europe/Paris or Asia/Dhaka.",
                              params={"value": value}, code="time_zone")


def time_zone_names() -> list[str]:
    """The zones a user may choose, UTC first, then by name."""
    return ["UTC", *sorted(_time_zones() - {"UTC"})]


def zone_named(name: str | None) -> zoneinfo.ZoneInfo:
    """The zone of that name; UTC for an empty or unknown name (a stored value is validated, but
    a zone may leave the server's tz database after an upgrade)."""
    try:
        return zoneinfo.ZoneInfo(name) if name and name not in UTC_NAMES else zoneinfo.ZoneInfo("UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _time_zones() -> frozenset[str]:
    global _TIME_ZONES
    if _TIME_ZONES is None:
        _TIME_ZONES = frozenset(zoneinfo.available_timezones()) | {"UTC"}
    return _TIME_ZONES


_TIME_ZONES: frozenset[str] | None = None
