"""Saved queries: named searches of the viewer, private or shared with every console user.

Reads (`saved_query_list`, `saved_query_get`, `saved_query_for_change`) apply the sharing
rule: a user sees their own queries and the shared ones of others; someone else's private
query does not exist for them (404). Only the owner changes or deletes a query (403 for
others who can see it). Writes record themselves in the console's audit trail.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.http import Http404, QueryDict

from apps.search.filters import ALIASES, EventFilterSet
from apps.viewer.models import SavedQuery
from apps.rbac.audit_trail import Actor, audit_record

# What a saved query keeps of the viewer's URL: its filters, query, order and columns, never
# the paging state (cursor, before) or the panel.
VIEW_PARAMS = ("sort", "cols")
SAVED_PARAMS = tuple(EventFilterSet.base_filters) + tuple(ALIASES) + VIEW_PARAMS


def querystring_clean(params: QueryDict) -> str:
    """The saved part of the viewer's parameters, as a query string, empty values left out."""
    pairs = [
        (key, value.strip())
        for key in SAVED_PARAMS if key in params
        for value in params.getlist(key) if value and value.strip()
    ]
    return urlencode(pairs)


def querystring_summary(querystring: str) -> list[tuple[str, str]]:
    """(parameter, value) pairs of a saved query string, for showing it as chips."""
    params = QueryDict(querystring)
    return [(key, ", ".join(params.getlist(key))) for key in params if key != "q"]


def saved_query_list(*, user):
    """The user's own saved queries, then those others share; each with its owner."""
    return (
        SavedQuery.objects.filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .annotate(mine=Case(When(owner=user, then=Value(True)), default=Value(False)))
        .order_by("-mine", "name", "pk")
    )


def saved_query_get(*, user, slug: str, owner: str | None = None) -> SavedQuery:
    """The saved query `?saved=<slug>` names: the user's own, else one shared by `owner` or anyone."""
    visible = SavedQuery.objects.filter(Q(owner=user) | Q(shared=True), slug=slug).select_related("owner")
    if owner:
        visible = visible.filter(owner__username=owner)
    found = visible.annotate(
        mine=Case(When(owner=user, then=Value(True)), default=Value(False)),
    ).order_by("-mine", "created_at", "pk").first()
    if found is None:
        raise Http404("No such saved query")
    return found


def saved_query_for_change(*, user, pk: int) -> SavedQuery:
    """A saved query the user may edit or delete: 404 if they cannot see it, 403 if not theirs."""
    saved = SavedQuery.objects.filter(Q(owner=user) | Q(shared=True), pk=pk).select_related("owner").first()
    if saved is None:
        raise Http404("No such saved query")
    if saved.owner_id != user.pk:
        raise PermissionDenied("Only its owner can change a saved query.")
    return saved


def _snapshot(saved: SavedQuery) -> dict:
    return {"name": saved.name, "slug": saved.slug, "description": saved.description,
            "querystring": saved.querystring, "shared": saved.shared}


@transaction.atomic
def saved_query_create(*, actor: Actor, owner, name: str, slug: str, description: str = "",
                       querystring: str = "", shared: bool = False) -> SavedQuery:
    saved = SavedQuery.objects.create(owner=owner, name=name, slug=slug, description=description,
                                      querystring=querystring, shared=shared)
    audit_record(actor=actor, action="audit.saved_query.create", resource_type="saved_query",
                 resource_id=str(saved.pk), resource_name=name,
                 description=f"{actor.label} saved the query {name}" + (" (shared)" if shared else ""),
                 changes={"before": None, "after": _snapshot(saved)})
    return saved


@transaction.atomic
def saved_query_update(*, actor: Actor, saved: SavedQuery, name: str, slug: str, description: str,
                       querystring: str, shared: bool) -> SavedQuery:
    before = _snapshot(saved)
    saved.name, saved.slug, saved.description = name, slug, description
    saved.querystring, saved.shared = querystring, shared
    saved.save()
    audit_record(actor=actor, action="audit.saved_query.update", resource_type="saved_query",
                 resource_id=str(saved.pk), resource_name=name,
                 description=f"{actor.label} changed the saved query {name}",
                 changes={"before": before, "after": _snapshot(saved)})
    return saved


@transaction.atomic
def saved_query_delete(*, actor: Actor, saved: SavedQuery) -> None:
    before = _snapshot(saved)
    pk = saved.pk
    saved.delete()
    audit_record(actor=actor, action="audit.saved_query.delete", resource_type="saved_query",
                 resource_id=str(pk), resource_name=before["name"],
                 description=f"{actor.label} deleted the saved query {before['name']}",
                 changes={"before": before, "after": None})
