"""Console pages of the log: the event viewer, one event whole (page or side panel), its check."""
from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.search import activity as activity_choice, reads, shape
from apps.search.archive import archive_reader
from apps.search.params import MAX_OFFSET
from apps.search.scope_notes import scope_note
from apps.viewer import shape as viewer_shape
from apps.search import cursors
from apps.viewer.columns import BY_KEY as COLUMNS_BY_KEY, COLUMNS, columns_chosen
from apps.events.diff import changes_diff, json_leaves
from apps.search.filters import FILTER_BAR_FIELDS, EventFilterSet, filter_q
from apps.viewer.links import event_pivots, viewer_querystring
from apps.rbac.preferences import preference_get, preference_remember_columns, zone_of
from apps.events.query import fields_help
from apps.viewer.saved_queries import querystring_clean, saved_query_get, saved_query_list
from apps.search.serialize import event_as_json
from apps.events.event_verification import event_verify as verify_event
from apps.rbac.audit_trail import audit_record
from apps.rbac.permissions import requires

PAGE_SIZE = 50


@require_GET
@vary_on_headers("HX-Request")
@requires("events.view_event", audit_action="audit.events.list")
def event_list(request: HttpRequest) -> HttpResponse:
    """The viewer: filter bar and query box (combined with AND), results paged by keyset.

    The whole state is in the URL. An htmx request from the viewer's form or pager gets only
    the results partial (with the query feedback swapped out of band); anything else the page.
    """
    params, saved = _viewer_params(request)
    filterset = EventFilterSet(params)
    preference = preference_get(user=request.user)
    columns = columns_chosen(params.getlist("cols"), preference.columns)
    if params.getlist("cols"):
        preference_remember_columns(preference=preference, columns=columns)
    order = params.get("sort") if params.get("sort") in reads.ORDERS else "newest"
    page = None
    # By default the events systems sent; the console's own trail on request (apps.search.activity).
    activity, condition = activity_choice.activity_condition(params, filterset.condition)
    # "Include archive": warm (archived) events too, through the reader the retention app
    # registers (apps.search.archive), paged by offset; archived rows are marked.
    reader = archive_reader()
    include_archive = reader is not None and params.get("archive") == "1"
    offset = next_offset = None
    if filterset.is_valid() and include_archive:
        offset = _offset(params.get("offset"))
        found = reader(principal=request.user, condition=condition, limit=PAGE_SIZE, offset=offset, order=order)
        page = reads.Page(events=found.events, total=found.total, total_is_exact=True, next_cursor=None, order=order)
        if offset + len(found.events) < found.total:
            next_offset = offset + len(found.events)
    elif filterset.is_valid():
        try:
            page = reads.event_page(principal=request.user, limit=PAGE_SIZE, filters=condition, order=order,
                                    cursor=params.get("cursor") or None, before=params.get("before") or None)
        except cursors.BadCursor:
            return redirect(reverse("events:list") + "?" + viewer_querystring(request.GET))
    histogram = facets = None
    if page is not None and not include_archive:
        # The shape of the whole search (not of the page): matches over time, top values.
        span = viewer_shape.time_span(filterset, principal=request.user, condition=condition)
        if span is not None:
            # Nothing but a time range over the systems' events: the rollups may answer (see event_histogram).
            only_time = activity == activity_choice.SYSTEMS and set(filterset.active) <= {"range", "start_date", "end_date"}
            # More matches than the list counts exactly: the histogram is estimated from a sample.
            histogram = shape.event_histogram(principal=request.user, filters=condition, start=span[0], end=span[1],
                                              only_time=only_time, many=not page.total_is_exact)
        if page.events:
            # An estimated histogram's sample gives the facets too (apps.search.shape.event_facets).
            facets = viewer_shape.facet_links(shape.event_facets(principal=request.user, filters=condition,
                                                                 histogram=histogram), params)
    audit_record(request=request, action="audit.events.list", resource_type="event_list",
                 description=f"{request.user.get_username()} listed events",
                 metadata={"query": request.GET.dict(), "activity": activity, "returned": len(page.events) if page else 0,
                           "total": page.total if page else 0, "valid": page is not None,
                           "include_archive": include_archive})
    template = "events/event_list.html"
    if _partial(request, "results"):
        template += "#results"
    link_params = request.GET.copy()
    link_params.pop("offset", None)  # only the archive's pager sets it, below
    context = {
        "filterset": filterset, "form": filterset.form, "page": page, "order": order,
        "columns": [COLUMNS_BY_KEY[key] for key in columns], "column_keys": columns, "all_columns": COLUMNS,
        "zone": zone_of(preference), "time_zone": preference.time_zone,
        "saved": saved, "scope_note": scope_note(user=request.user) if template.endswith(".html") else None,
        "histogram": histogram, "histogram_outcomes": shape.OUTCOMES, "histogram_svg": viewer_shape.histogram_svg(histogram, params) if histogram else "",
        "facets": facets, "facets_capped": page is not None and not page.total_is_exact, "facet_cap": reads.COUNT_CAP,
        "facets_estimated": bool(facets) and facets[0][0].approximate,
        "activity": activity, "activity_param": params.get(activity_choice.PARAM, ""),
        "activity_links": [(key, label, viewer_querystring(link_params, activity=None if key == activity_choice.SYSTEMS else key))
                           for key, label in activity_choice.CHOICES.items()],
        "saved_modified": saved is not None and querystring_clean(params) != querystring_clean(QueryDict(saved.querystring)),
        "saved_queries": saved_query_list(user=request.user)[:50]
        if template.endswith(".html") and request.user.has_perm("rbac.use_saved_queries") else (),
        "query_error": filterset.query_error,
        "filter_errors": [(filterset.form.fields[name].label or name, message)
                          for name, messages in filterset.errors.items() if name != "q" for message in messages],
        "filter_fields": [filterset.form[name] for name in FILTER_BAR_FIELDS],
        "fields_help": fields_help(),
        "examples": [{"label": label, "query": text} for label, text in QUERY_EXAMPLES],
        "next_qs": page and page.next_cursor and viewer_querystring(link_params, cursor=page.next_cursor),
        "prev_qs": page and page.prev_cursor and viewer_querystring(link_params, before=page.prev_cursor),
        "first_qs": viewer_querystring(link_params),
        "save_qs": viewer_querystring(params, drop=("cursor", "before", "saved", "owner")),
        "sort_qs": {o: viewer_querystring(link_params, sort=o) for o in reads.ORDERS},
        "paged": bool(params.get("cursor") or params.get("before")),
        "archive_available": reader is not None, "include_archive": include_archive,
    }
    if include_archive and page is not None:
        context["next_qs"] = next_offset is not None and viewer_querystring(link_params, offset=next_offset)
        context["prev_qs"] = offset > 0 and viewer_querystring(link_params, offset=max(0, offset - PAGE_SIZE) or None)
        context["paged"] = offset > 0
    return render(request, template, context)


def _offset(value) -> int:
    """The archive pager's offset: a whole number from 0 to MAX_OFFSET; anything else is 0."""
    try:
        return min(max(int(value or 0), 0), MAX_OFFSET)
    except ValueError:
        return 0


# Examples for the query help, from the seeds' documentation (CloudPi and Cloud Digit).
QUERY_EXAMPLES = (
    ("Failed sign-ins in the last 24 hours", "event_type:authentication.login AND status:failed AND timestamp:>now-24h"),
    ("Resource deletions by one user", "event_type:resource.delete AND actor.email:user@company.com"),
    ("Cost-related activity", "category:cost OR tags:budget OR tags:cost-optimization"),
    ("Policy changes in production", "event_type:policy.* AND resource.tags.Environment:production"),
    ("Did Alice cause this?", "actor = alice@example.com AND time = last 24h"),
    ("Brute-force attempts?", "result = failure AND auth_method = password AND last 24h"),
    ("Who deleted servers this week?", "action LIKE compute.servers.delete AND time = last 7d"),
    ("Full lifecycle of one resource", "resource_id = vm_01HZ8K2M3N4P5Q6R7S8T9V0W AND time = all"),
    ("Off-network access", "source_ip NOT IN (10.0.0.0/8, 192.168.0.0/16) AND last 24h"),
    ("High and critical denials", "severity:>=high AND outcome:denied"),
)


@require_GET
@requires("events.view_event", audit_action="audit.events.examples")
def query_examples(request: HttpRequest) -> HttpResponse:
    """The query help's examples, each with the number of events it finds for this user (the help
    loads them when opened: ten counts are too many for every page of the viewer)."""
    examples = []
    for label, text in QUERY_EXAMPLES:
        condition, errors = filter_q({"q": text, "range": "all"})
        total, exact = reads.event_count(principal=request.user, filters=activity_choice.activity_condition({}, condition)[1]) \
            if not errors else (0, True)
        examples.append({"label": label, "query": text, "total": total, "exact": exact})
    audit_record(request=request, action="audit.events.examples", resource_type="event_list",
                 description=f"{request.user.get_username()} counted the query help's examples",
                 metadata={"counts": [example["total"] for example in examples]})
    return render(request, "events/event_list.html#examples", {"examples": examples, "counted": True})


def _viewer_params(request: HttpRequest):
    """The request's parameters, on top of the saved query `?saved=<slug>` names (if any).

    A parameter present in the URL wins over the saved one, even empty: that is how the filter
    bar changes a saved query's filter without saving it.
    """
    slug = request.GET.get("saved")
    if not slug:
        return request.GET, None
    if not request.user.has_perm("rbac.use_saved_queries"):
        raise PermissionDenied
    saved = saved_query_get(user=request.user, slug=slug, owner=request.GET.get("owner") or None)
    params = QueryDict(saved.querystring, mutable=True)
    for key in request.GET:
        if key not in ("saved", "owner"):
            params.setlist(key, request.GET.getlist(key))
    return params, saved


def _partial(request: HttpRequest, target: str) -> bool:
    """An htmx request (not a boosted page load) that will swap `target`."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request and htmx.target == target


@require_GET
@vary_on_headers("HX-Request")
@requires("events.view_event", audit_action="audit.events.view")
def event_detail(request: HttpRequest, event_id: str) -> HttpResponse:
    try:
        event = reads.event_get(principal=request.user, event_id=event_id)
    except Http404:
        # Unknown and out-of-scope look alike to the user; the trail records the attempt.
        audit_record(request=request, action="audit.events.view", outcome="denied", status_code=404,
                     resource_type="event", resource_id=event_id[:200],
                     description=f"{request.user.get_username()} asked for an event they may not see")
        raise
    audit_record(request=request, action="audit.events.view", resource_type="event", resource_id=event.event_id,
                 resource_name=event.action,
                 description=f"{request.user.get_username()} viewed the event {event.event_id}",
                 metadata={"seq": event.seq, "event_project": event.project})
    template = "events/event_detail.html"
    if _partial(request, "panel"):
        template += "#panel"
    return render(request, template, _detail_context(request, event))


@require_GET
@vary_on_headers("HX-Request")
@requires("events.view_event", audit_action="audit.events.verify")
def event_verify(request: HttpRequest, event_id: str) -> HttpResponse:
    """Check one event against its neighbours and the nearest signed checkpoint (a read: GET)."""
    event = reads.event_get(principal=request.user, event_id=event_id)
    verification = verify_event(event=event)
    audit_record(request=request, action="audit.events.verify", resource_type="event", resource_id=event.event_id,
                 resource_name=event.action,
                 description=f"{request.user.get_username()} verified the event {event.event_id}: {verification.status}",
                 metadata={"seq": event.seq, "status": verification.status})
    if getattr(request, "htmx", None) and not request.htmx.boosted:
        return render(request, "events/event_detail.html#verification", {"event": event, "verification": verification})
    return render(request, "events/event_detail.html", {**_detail_context(request, event), "verification": verification})


def _detail_context(request: HttpRequest, event) -> dict:
    preference = preference_get(user=request.user)
    return {
        "event": event,
        "raw_json": json.dumps(event_as_json(event), indent=2, ensure_ascii=False, sort_keys=False),
        "diff": changes_diff(event.changes),
        "pivots": event_pivots(event),
        "zone": zone_of(preference), "time_zone": preference.time_zone,
        "metadata_items": json_leaves(event.metadata),
    }
