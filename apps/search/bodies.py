"""The JSON bodies of POST /api/v1/audit-logs/search and /export, as a `Search` (apps.search.params).

Seed 001's shape (`query`, `start_time`, `end_time`, `filters: {user, resource_type, event_type,
status, ...}`) and seed 004's (`filters: {event_types, date_range, actors: {user_ids,
ip_addresses}, status: [...], severity: [...]}`, `sort`, `limit`, `page`, `include_details`).
Every filter is compiled by the query language's compiler, like the GET parameters' filters.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from apps.events.errors import field_error
from apps.events.query import QueryError, parse_query
from apps.events.query.nodes import Value
from apps.events.query.values import time_span
from apps.search.cursors import BadCursor, cursor_decode
from apps.search.filter_fields import event_type_q
from apps.search.formats import TEMPLATE
from apps.search.params import (
    NUL_MESSAGE, SORT_FIELDS, SORT_ORDERS, DEFAULT_LIMIT, EXPORT_FORMATS, MAX_LIMIT, MAX_OFFSET,
    Search, SearchInvalid, activity_condition, field_q, nul_paths, query_error, int_param,
)

# --- POST bodies -----------------------------------------------------------------------------

# Body filters: key → (query-language field, action-style prefix). `user` is seed 001's name for
# the actor; the others are the GET parameters' names.
_BODY_FIELDS = {
    "actor": ("actor", False), "user": ("actor", False), "user_id": ("actor.id", False),
    "action": ("action", True), "category": ("category", False),
    "outcome": ("outcome", False), "status": ("outcome", False), "severity": ("severity", False),
    "resource_type": ("resource.type", False), "resource_id": ("resource.id", False),
    "project": ("project", False), "ip": ("ip_address", False), "auth_method": ("auth_method", False),
    "trace_id": ("trace_id", False), "tags": ("tags", False),
}
# Seed 004's `filters.actors`.
_ACTOR_FIELDS = {
    "user_ids": "actor.id", "emails": "actor.email", "names": "actor.name", "types": "actor.type",
    "ip_addresses": "ip_address",
}
_FILTER_KEYS = set(_BODY_FIELDS) | {"event_type", "event_types", "date_range", "actors"}
_SEARCH_KEYS = {"query", "q", "start_time", "end_time", "filters", "sort", "limit", "page", "cursor", "include_details",
                "activity"}
_EXPORT_KEYS = {"format", "template", "query", "q", "start_time", "end_time", "filters", "sort", "activity"}


def search_from_body(body, *, now: datetime, export: bool = False) -> Search:
    """A search (or export) body as a Search; SearchInvalid naming every bad key."""
    if not isinstance(body, dict):
        raise SearchInvalid([field_error(None, "the body must be a JSON object")])
    allowed = _EXPORT_KEYS if export else _SEARCH_KEYS
    errors = [field_error(key, f"unknown key '{key}'; the body takes {', '.join(sorted(allowed))}")
              for key in body if key not in allowed]
    nul = [field_error(path, NUL_MESSAGE) for path in nul_paths(body)]
    if nul:
        raise SearchInvalid(errors + nul)
    search = Search(condition=Q(), order="oldest" if export else "newest")
    parts: list[Q] = []

    def attempt(function, *args):
        try:
            return function(*args)
        except SearchInvalid as invalid:
            errors.extend(invalid.errors)
            return None

    if "query" in body and "q" in body:
        errors.append(field_error("q", "send query or q, not both"))
    query_key = "query" if "query" in body else "q"
    query = body.get(query_key)
    if query not in (None, ""):
        if not isinstance(query, str):
            errors.append(field_error(query_key, f"{query_key} must be a string in the query language"))
        else:
            try:
                parts.append(parse_query(query, now=now))
                search.query = query
            except QueryError as error:
                errors.append(query_error(query_key, error))

    bounds = attempt(_bounds, body.get("start_time"), body.get("end_time"), "start_time", "end_time", now)
    if bounds:
        search.start, search.end = bounds[0], bounds[1]
        parts.append(bounds[2])
    # Whose activity (apps.search.params.activity_condition): every event unless the body says.
    part = attempt(activity_condition, body.get("activity"))
    if part:
        parts.append(part)
    filters = body.get("filters")
    if filters is not None:
        condition = attempt(_filters_q, filters, now, search)
        if condition is not None:
            parts.append(condition)
    if "sort" in body:
        order = attempt(_sort, body["sort"])
        if order:
            search.order = order
    if export:
        search.format = attempt(_format, body.get("format")) or ""
        search.template = attempt(_template, search.format, body.get("template"))
    else:
        search.limit = attempt(int_param, body.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
        page = attempt(int_param, body.get("page"), "page", 1, 1, MAX_OFFSET + 1)
        cursor = body.get("cursor")
        if cursor not in (None, ""):
            if not isinstance(cursor, str):
                errors.append(field_error("cursor", "cursor must be a string (next_page of the previous answer)"))
            else:
                try:
                    search.cursor, cursor_page = cursor_decode(cursor, order=search.order)
                    search.page = cursor_page or page or 1
                except BadCursor as error:
                    errors.append(field_error("cursor", str(error)))
        elif page:
            search.page = page
            search.offset = (page - 1) * search.limit
            if search.offset > MAX_OFFSET:
                errors.append(field_error("page", f"page {page} of {search.limit} starts past event {MAX_OFFSET:,}; "
                                             "to go further, follow next_page (a cursor)"))
        details = body.get("include_details", True)
        if not isinstance(details, bool):
            errors.append(field_error("include_details", "include_details must be true or false"))
        else:
            search.include_details = details
    if errors:
        raise SearchInvalid(errors)
    search.condition = Q(*parts) if parts else Q()
    return search


def _format(value) -> str:
    if value in (None, ""):
        raise SearchInvalid([field_error("format", f"format is required: one of {', '.join(EXPORT_FORMATS)}")])
    if not isinstance(value, str):
        raise SearchInvalid([field_error("format", f"format must be one of {', '.join(EXPORT_FORMATS)}")])
    name = value.strip().lower()
    if name not in EXPORT_FORMATS:
        raise SearchInvalid([field_error("format", f"'{value}' is not a format; use {', '.join(EXPORT_FORMATS)}")])
    return name


def _template(fmt: str, value) -> int | None:
    """The id of the stored template a "template" export renders (required there, refused elsewhere)."""
    if fmt != TEMPLATE:
        if value not in (None, ""):
            raise SearchInvalid([field_error("template", "template is only taken with the format \"template\"")])
        return None
    if value in (None, ""):
        raise SearchInvalid([field_error("template", "the format \"template\" needs template: the id of a stored export template")])
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) < 1:
        raise SearchInvalid([field_error("template", "template must be the id (a positive integer) of a stored export template")])
    return int(value)


def _sort(value) -> str:
    if not isinstance(value, dict):
        raise SearchInvalid([field_error("sort", 'sort must be an object like {"field": "timestamp", "order": "desc"}')])
    errors = [field_error(f"sort.{key}", f"unknown key '{key}'; sort takes field and order")
              for key in value if key not in ("field", "order")]
    field = value.get("field", "timestamp")
    if field not in SORT_FIELDS:
        errors.append(field_error("sort.field", f"events are sorted by timestamp only, not '{field}'"))
    order = value.get("order", "desc")
    if not isinstance(order, str) or order.lower() not in SORT_ORDERS:
        errors.append(field_error("sort.order", f"'{order}' is not an order; use asc or desc"))
    if errors:
        raise SearchInvalid(errors)
    return SORT_ORDERS[order.lower()]


def _time(value, name: str, now: datetime):
    if not isinstance(value, str) or not value.strip():
        raise SearchInvalid([field_error(name, f"{name} must be a time: 2026-03-10T14:30:00Z, 2026-03-10 or now-24h")])
    text = value.strip()
    try:
        return time_span(Value(text, False, 0, len(text)), now=now)
    except QueryError as error:
        raise SearchInvalid([field_error(name, error.message)]) from None


def _bounds(start_raw, end_raw, start_name: str, end_name: str, now: datetime):
    """(start, end, condition) of two optional bounds; a date as the end covers its whole day."""
    errors, start, end, condition = [], None, None, Q()
    start_span = end_span = None
    for raw, name in ((start_raw, start_name), (end_raw, end_name)):
        if raw in (None, ""):
            continue
        try:
            span = _time(raw, name, now)
        except SearchInvalid as invalid:
            errors += invalid.errors
            continue
        if name == start_name:
            start_span = span
        else:
            end_span = span
    if start_span is not None:
        start = start_span.start
        condition &= Q(occurred_at__gte=start)
    if end_span is not None:
        # An instant (a timestamp with fractions, now-1h) is inclusive; a date or a second
        # covers its whole unit, as the viewer's end_date does.
        end = end_span.end
        condition &= Q(occurred_at__lte=end) if end_span.instant else Q(occurred_at__lt=end)
    if start is not None and end is not None and end <= start:
        errors.append(field_error(end_name, f"{end_name} is not after {start_name}"))
    if errors:
        raise SearchInvalid(errors)
    return start, end, condition


def _strings(value, name: str) -> list[str]:
    """A string or a list of strings (seed 001 writes one value, seed 004 lists)."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise SearchInvalid([field_error(name, f"{name} must be a non-empty string or a list of non-empty strings")])
    return [item.strip() for item in items]


def _filters_q(filters, now: datetime, search: Search) -> Q:
    if not isinstance(filters, dict):
        raise SearchInvalid([field_error("filters", "filters must be an object")])
    errors = [field_error(f"filters.{key}", f"unknown filter '{key}'; filters take {', '.join(sorted(_FILTER_KEYS))}")
              for key in filters if key not in _FILTER_KEYS]
    parts: list[Q] = []
    for key, value in filters.items():
        name = f"filters.{key}"
        try:
            if key in _BODY_FIELDS:
                field, prefix = _BODY_FIELDS[key]
                parts.append(_compiled(name, lambda v=value, n=name, f=field, p=prefix:
                                       field_q(f, _strings(v, n), now=now, prefix_on_dot=p)))
            elif key in ("event_type", "event_types"):
                parts.append(_compiled(name, lambda v=value, n=name: event_type_q(_strings(v, n), now=now)))
            elif key == "date_range":
                parts.append(_date_range(value, now, search))
            elif key == "actors":
                parts.append(_actors(value, now))
        except SearchInvalid as invalid:
            errors += invalid.errors
    if errors:
        raise SearchInvalid(errors)
    return Q(*parts) if parts else Q()


def _compiled(name: str, build) -> Q:
    try:
        return build()
    except QueryError as error:
        raise SearchInvalid([field_error(name, error.message)]) from None


def _date_range(value, now: datetime, search: Search) -> Q:
    if not isinstance(value, dict):
        raise SearchInvalid([field_error("filters.date_range", 'date_range must be an object like {"start": ..., "end": ...}')])
    errors = [field_error(f"filters.date_range.{key}", f"unknown key '{key}'; date_range takes start and end")
              for key in value if key not in ("start", "end")]
    try:
        start, end, condition = _bounds(value.get("start"), value.get("end"),
                                        "filters.date_range.start", "filters.date_range.end", now)
    except SearchInvalid as invalid:
        raise SearchInvalid(errors + invalid.errors) from None
    if errors:
        raise SearchInvalid(errors)
    # Both windows apply; the file name of an export shows the narrower one.
    if start is not None and (search.start is None or start > search.start):
        search.start = start
    if end is not None and (search.end is None or end < search.end):
        search.end = end
    return condition


def _actors(value, now: datetime) -> Q:
    if not isinstance(value, dict):
        raise SearchInvalid([field_error("filters.actors", "actors must be an object like {\"user_ids\": [...]}")])
    errors = [field_error(f"filters.actors.{key}", f"unknown key '{key}'; actors take {', '.join(sorted(_ACTOR_FIELDS))}")
              for key in value if key not in _ACTOR_FIELDS]
    parts = []
    for key, items in value.items():
        if key not in _ACTOR_FIELDS:
            continue
        name = f"filters.actors.{key}"
        try:
            parts.append(_compiled(name, lambda v=items, n=name, f=_ACTOR_FIELDS[key]: field_q(f, _strings(v, n), now=now)))
        except SearchInvalid as invalid:
            errors += invalid.errors
    if errors:
        raise SearchInvalid(errors)
    return Q(*parts) if parts else Q()
