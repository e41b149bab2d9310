"""Why a person sees what they see, when it is less than their role suggests: a note for the viewer
and the dashboard. Read from the same grants as the visibility rule (apps.rbac.grants)."""
from __future__ import annotations

from apps.rbac.grants import grants_of, team_members
from apps.rbac.roles import VIEW_ALL_EVENTS, VIEW_TEAM_EVENTS

NO_TEAM = ("You are a Manager of no team yet, so you see only your own events. An administrator can add you "
           "to a team, or name the teams you manage on your role (Access → Teams).")


def scope_note(*, user) -> str | None:
    """A sentence explaining a narrower view than the role's name promises, else None.

    A Manager whose assignments name no team with anyone else in it sees their own events only.
    """
    grants = grants_of(user)
    if getattr(user, "is_superuser", False) or any(VIEW_ALL_EVENTS in grant.permissions for grant in grants):
        return None
    managing = [grant for grant in grants if VIEW_TEAM_EVENTS in grant.permissions]
    if not managing:
        return None
    me = user.get_username().lower()
    others = {name.lower() for grant in managing
              for name, _ in team_members(user=user, assignment_id=grant.assignment_id)} - {me}
    return None if others else NO_TEAM
