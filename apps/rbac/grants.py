"""What a user holds: their active role assignments, each with its permissions and limits.

Read once per request (cached on the user object, as Django caches permissions) and used by
both the permission backend (`user.has_perm`) and the visibility rule (`event_scope`), so the
pages a user may open and the events they see always come from the same assignments.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q

from apps.rbac.models import RoleAssignment, Team

_CACHE = "_rbac_grants"


@dataclass(frozen=True)
class Grant:
    """One active role assignment, flattened."""

    assignment_id: int
    role: str
    permissions: frozenset[str]
    projects: tuple[str, ...]
    window_start: datetime | None
    window_end: datetime | None


def grants_of(user) -> list[Grant]:
    """The user's active assignments (none for anonymous or deactivated users); one query."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active or user.pk is None:
        return []
    cached = getattr(user, _CACHE, None)
    if cached is not None:
        return cached
    rows = (
        RoleAssignment.objects.active().filter(user=user)
        .values_list("id", "role__slug", "projects", "window_start", "window_end",
                      "role__permissions__content_type__app_label", "role__permissions__codename")
        .order_by("id")
    )
    by_id: dict[int, dict] = {}
    for assignment_id, slug, projects, start, end, app_label, codename in rows:
        entry = by_id.setdefault(assignment_id, {
            "role": slug, "projects": tuple(projects or ()), "start": start, "end": end, "perms": set(),
        })
        if codename:
            entry["perms"].add(f"{app_label}.{codename}")
    grants = [
        Grant(assignment_id=assignment_id, role=entry["role"], permissions=frozenset(entry["perms"]),
              projects=entry["projects"], window_start=entry["start"], window_end=entry["end"])
        for assignment_id, entry in by_id.items()
    ]
    setattr(user, _CACHE, grants)
    return grants


def forget_grants(user) -> None:
    """Drop the cached grants and permissions after the user's assignments changed."""
    for name in (_CACHE, "_rbac_event_scope", "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        if hasattr(user, name):
            delattr(user, name)


def team_members(*, user, assignment_id: int) -> list[tuple[str, str]]:
    """(username, email) of the members of a Manager's teams.

    The teams are the ones named on the assignment, or, when it names none, every team the
    manager belongs to.
    """
    limited = Team.objects.filter(pk__in=RoleAssignment.teams.through.objects.filter(
        roleassignment_id=assignment_id).values("team_id"))
    teams = limited if limited.exists() else Team.objects.filter(members=user)
    return list(
        get_user_model().objects.filter(teams__in=teams).values_list("username", "email").distinct()
    )


def users_holding(role_slug: str):
    """Active users with an active assignment of the role."""
    return get_user_model().objects.filter(
        Q(is_active=True),
        pk__in=RoleAssignment.objects.active().filter(role__slug=role_slug).values("user_id"),
    )
