"""The one definition of which events a principal may see.

Every read of events (viewer, detail, API, exports, reports, live view, streams) filters
through `event_scope`, exposed as `Event.objects.visible_to(principal)`. Deny by default:
a principal this module does not recognise sees nothing.
"""
from __future__ import annotations

from django.db.models import Q

from apps.rbac.models import ApiToken

NOTHING = Q(pk__in=[])


def event_scope(principal) -> Q:
    if isinstance(principal, ApiToken):
        return _token_scope(principal)
    return _user_scope(principal)


def _user_scope(user) -> Q:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser or user.has_perm("events.view_all_events"):
        return Q()
    # Everyone else sees their own events: those they are the actor of.
    own = Q(actor_id=user.get_username())
    if user.email:
        own |= Q(actor_email__iexact=user.email)
    return own


def _token_scope(token: ApiToken) -> Q:
    if not token.is_active or token.scope not in (ApiToken.Scope.READ, ApiToken.Scope.AUDITOR):
        return NOTHING
    scope = _user_scope(token.user) if token.user is not None else Q()
    if token.projects:
        scope &= Q(project__in=token.projects)
    if token.window_start is not None:
        scope &= Q(occurred_at__gte=token.window_start)
    if token.window_end is not None:
        scope &= Q(occurred_at__lt=token.window_end)
    return scope
