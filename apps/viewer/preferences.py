"""A console user's viewer preferences: their time zone and their columns."""
from __future__ import annotations

import zoneinfo

from apps.viewer.models import UserPreference


def preference_get(*, user) -> UserPreference:
    """The user's preferences, unsaved defaults when they have none yet (no write on a read)."""
    preference = UserPreference.objects.filter(user=user).first()
    return preference or UserPreference(user=user)


def preference_update(*, user, time_zone: str, columns: list[str]) -> UserPreference:
    preference, _ = UserPreference.objects.update_or_create(
        user=user, defaults={"time_zone": time_zone, "columns": list(columns)},
    )
    return preference


def preference_remember_columns(*, preference: UserPreference, columns: list[str]) -> None:
    """Keep the columns last picked in the viewer (one write, only when they changed)."""
    if list(preference.columns) == list(columns):
        return
    preference.columns = list(columns)
    if preference._state.adding:
        UserPreference.objects.update_or_create(user=preference.user, defaults={"columns": preference.columns})
    else:
        UserPreference.objects.filter(pk=preference.pk).update(columns=preference.columns)


def zone_of(preference: UserPreference) -> zoneinfo.ZoneInfo | None:
    """The user's own time zone, or None when it is UTC (nothing to show beside UTC then)."""
    if not preference.time_zone or preference.time_zone in ("UTC", "Etc/UTC"):
        return None
    try:
        return zoneinfo.ZoneInfo(preference.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
