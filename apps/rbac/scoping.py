"""The one definition of which events a principal may see.

Every read of events (viewer, detail, API, exports, reports, live view, streams) filters
through `event_scope`, exposed as `Event.objects.visible_to(principal)`. Deny by default:
a principal this module does not recognise, a user without an active role, an inactive
user, and a revoked or expired token all see nothing.

A user sees the union, over their active role assignments, of what each assignment allows:

- a role with `events.view_all_events` (administrator, analyst, compliance officer, external
  auditor): every event;
- a role with `rbac.view_team_events` (manager): the events of the members of their teams;
- a role with `rbac.view_own_events` (regular user, manager): the events they are the actor of,
  by username (actor_id) or email (actor_email), both compared case-insensitively;

each narrowed by the assignment's projects and time window. A token sees what its user sees
(or everything, when it has no user), narrowed by the token's own projects and window.
"""
from __future__ import annotations

from django.db.models import Q

from apps.rbac.grants import Grant, grants_of, team_members
from apps.rbac.models import ApiToken
from apps.rbac.roles import VIEW_ALL_EVENTS, VIEW_OWN_EVENTS, VIEW_TEAM_EVENTS

NOTHING = Q(pk__in=[])
_CACHE = "_rbac_event_scope"


def event_scope(principal) -> Q:
    if isinstance(principal, ApiToken):
        return _token_scope(principal)
    return _user_scope(principal)


def _user_scope(user) -> Q:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return NOTHING
    if user.is_superuser:
        return Q()
    cached = getattr(user, _CACHE, None)
    if cached is not None:
        return cached
    scope = NOTHING
    for grant in grants_of(user):
        part = _grant_scope(user, grant)
        if part is NOTHING:
            continue
        if not part:
            # An unconditioned grant sees everything. It must short-circuit: Django's
            # `Q() | other` is just `other`, which would shrink "everything" to the other grant.
            scope = Q()
            break
        scope = part if scope is NOTHING else scope | part
    setattr(user, _CACHE, scope)
    return scope


def _grant_scope(user, grant: Grant) -> Q:
    if VIEW_ALL_EVENTS in grant.permissions:
        scope = Q()
    else:
        people: list[tuple[str, str]] = []
        if VIEW_OWN_EVENTS in grant.permissions:
            people.append((user.get_username(), user.email))
        if VIEW_TEAM_EVENTS in grant.permissions:
            people.extend(team_members(user=user, assignment_id=grant.assignment_id))
        if not people:
            return NOTHING
        scope = _actors(people)
    return _narrowed(scope, projects=grant.projects, start=grant.window_start, end=grant.window_end)


def _actors(people: list[tuple[str, str]]) -> Q:
    """Events whose actor is one of these people, by username or email, ignoring case.

    Both comparisons are served by the expression indexes of migration rbac 0004.
    """
    usernames = sorted({name.lower() for name, _ in people if name})
    emails = sorted({email.lower() for _, email in people if email})
    scope = NOTHING
    for name in usernames:
        scope = _or(scope, Q(actor_id__iexact=name))
    for email in emails:
        scope = _or(scope, Q(actor_email__iexact=email))
    return scope


def _or(left: Q, right: Q) -> Q:
    return right if left is NOTHING else left | right


def _narrowed(scope: Q, *, projects=(), start=None, end=None) -> Q:
    if projects:
        scope &= Q(project__in=list(projects))
    if start is not None:
        scope &= Q(occurred_at__gte=start)
    if end is not None:
        scope &= Q(occurred_at__lt=end)
    return scope


def _token_scope(token: ApiToken) -> Q:
    if not token.is_active or token.scope not in (ApiToken.Scope.READ, ApiToken.Scope.AUDITOR):
        return NOTHING
    if token.scope == ApiToken.Scope.AUDITOR and (token.window_start is None or token.window_end is None):
        # An auditor token is defined by its window; without one it must not fall back to "all".
        return NOTHING
    scope = _user_scope(token.user) if token.user is not None else Q()
    if scope is NOTHING:
        return NOTHING
    return _narrowed(scope, projects=token.projects, start=token.window_start, end=token.window_end)
