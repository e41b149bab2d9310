"""A console user's preferences: their time zone (every page that shows times) and the viewer's columns."""
from __future__ import annotations

import zoneinfo

from apps.rbac.models import UserPreference
from apps.rbac.time_zones import UTC_NAMES, zone_named


def preference_get(*, user) -> UserPreference:
    """The user's preferences, unsaved defaults when they have none yet (no write on a read)."""
    preference = UserPreference.objects.filter(user=user).first() if getattr(user, "pk", None) else None
    return preference or UserPreference(user=user if getattr(user, "pk", None) else None)


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
    if not preference.time_zone or preference.time_zone in UTC_NAMES:
        return None
    zone = zone_named(preference.time_zone)
    return None if zone.key == "UTC" else zone


def user_zone(user) -> zoneinfo.ZoneInfo:
    """The zone to show `user` times in: their preference's, UTC when they chose none."""
    return zone_named(preference_get(user=user).time_zone)
