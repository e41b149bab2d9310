"""The read API's requests: the list's GET parameters and the JSON bodies of search and export.

Each becomes a `Search`: one condition (a Q, applied by the reads to
`Event.objects.visible_to(principal)`), an order and the paging asked for. Every parameter and
every key is checked; whatever is unknown or malformed raises `SearchInvalid`, whose errors
name it (`limit`, `filters.actors.user_ids`) in the API's error shape
`{"index": null, "field", "message"}`; query-language errors add where in the query the
problem is (`position`, `column`, `end`).

GET parameters are the viewer's filters (apps.events.filters), so a URL copied from the console
works against the API, plus `limit`, `cursor`, `before`, `offset` and `sort`.

Bodies take seed 001's shape (`query`, `start_time`, `end_time`, `filters: {user,
resource_type, event_type, status, ...}`) and seed 004's (`filters: {event_types, date_range,
actors: {user_ids, ip_addresses}, status: [...], severity: [...]}`, `sort`, `limit`, `page`,
`include_details`). Every filter means what the same query-language term means (`status:
failed` is outcome failure, `ip` takes an address, a CIDR block or a wildcard), because each
is compiled by the query language's compiler.

Event types. `event_type` (GET and body, also seed 004's list `event_types`) is broader than
`action`: a value matches the action itself, any action below it (`authentication` finds
`authentication.login`; `iam.role` finds `iam.role.update`), and the category of that name or
alias (`authentication` → auth, `authorization` → authz). Values with `*` are action patterns
(`policy.*`). `action` stays exact (or a prefix when it ends in `.` or `*`). The rule is
apps.events.filters.event_type_q, the same the viewer applies to its `event_type` parameter.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.http import QueryDict

from apps.events.filters import ALIASES as FILTER_ALIASES
from apps.events.filters import EventFilterSet, QueryFieldFilter, event_type_q
from apps.events.query import QueryError, parse_query
from apps.events.query.nodes import Value
from apps.events.query.values import time_span
from apps.events.export_formats import FORMAT_NAMES, TEMPLATE
from apps.events.reads import ORDERS, BadCursor

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# Offsets (and pages) reach as far as the exact count does; past it, follow the cursor.
MAX_OFFSET = 10_000

# The formats of apps.events.export_formats; "template" takes a stored template's id too.
EXPORT_FORMATS = FORMAT_NAMES

_SORT_FIELDS = ("timestamp", "occurred_at", "time")
_SORT_ORDERS = {"desc": "newest", "asc": "oldest"}
# `sort` as a GET parameter: the viewer's words and the API's.
_SORT_PARAMS = {
    "newest": "newest", "oldest": "oldest", "desc": "newest", "asc": "oldest",
    "-timestamp": "newest", "timestamp": "oldest", "-occurred_at": "newest", "occurred_at": "oldest",
}

# GET parameters besides the filters: paging, order, and the viewer's column choice (ignored).
_LIST_PARAMS = {"limit", "cursor", "before", "offset", "sort"}
_IGNORED_PARAMS = {"cols"}


class SearchInvalid(ValueError):
    """A request the API refuses with 400; `errors` in the API's shape, one per problem."""

    def __init__(self, errors: list[dict]) -> None:
        self.errors = errors
        self.message = errors[0]["message"] if len(errors) == 1 else f"{len(errors)} problems with the request"
        super().__init__(self.message)


@dataclass
class Search:
    """What to read: the condition, the order, and the page asked for."""

    condition: Q
    order: str = "newest"
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    before: str | None = None
    offset: int = 0
    page: int = 1
    query: str = ""
    start: datetime | None = None
    end: datetime | None = None
    include_details: bool = True
    format: str = ""
    template: int | None = None


# PostgreSQL text cannot hold NUL; refused here rather than failing in the database.
_NUL_MESSAGE = "the value holds a NUL character (\\u0000)"


def _nul_paths(value, path: str = "") -> list[str]:
    """The dotted paths of a JSON body whose strings (keys or values) hold NUL."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if "\x00" in str(key) else _nul_paths(item, child)
        return found
    if isinstance(value, list):
        return [found for item in value for found in _nul_paths(item, path)]
    return []


def _error(field: str, message: str, **extra) -> dict:
    return {"index": None, "field": field, "message": message, **extra}


def _query_error(field: str, error: QueryError) -> dict:
    return _error(field, str(error), position=error.position, column=error.column, end=error.end)


# --- cursors ---------------------------------------------------------------------------------


def cursor_encode(reads_cursor: str, *, order: str, page: int) -> str:
    """The API's cursor: the reads' keyset cursor, the order it runs in and the page it leads to.

    The order is kept so that a cursor cannot be replayed against the other order (it would
    silently skip everything), the page so that seed 004's `page` stays right when following it.
    """
    return f"{reads_cursor}.{order[0]}{page}"


def cursor_decode(cursor: str, *, order: str) -> tuple[str, int | None]:
    """(reads cursor, page) of an API cursor; BadCursor if it is not one, or runs the other way."""
    inner, dot, suffix = cursor.rpartition(".")
    if not dot:
        return cursor, None  # a bare keyset cursor (as the viewer makes them)
    if not (len(suffix) >= 2 and suffix[0] in "no" and suffix[1:].isdigit()) or not inner:
        raise BadCursor("the cursor is not one this API gave out")
    if suffix[0] != order[0]:
        raise BadCursor(f"the cursor was made for the {'newest' if suffix[0] == 'n' else 'oldest'}-first order; "
                        "send the same sort as the request that gave it")
    try:
        base64.urlsafe_b64decode(inner + "=" * (-len(inner) % 4))
    except (binascii.Error, ValueError):
        raise BadCursor("the cursor is not one this API gave out") from None
    return inner, int(suffix[1:])


# --- GET /api/v1/audit-logs ------------------------------------------------------------------


def search_from_params(params: QueryDict, *, now: datetime) -> Search:
    """The list's GET parameters as a Search; SearchInvalid naming every bad parameter."""
    known = set(EventFilterSet.base_filters) | set(FILTER_ALIASES) | _LIST_PARAMS | _IGNORED_PARAMS
    errors = [
        _error(name, f"unknown parameter '{name}'; the list takes {', '.join(sorted(known - _IGNORED_PARAMS))}")
        for name in params if name not in known
    ]
    nul = [_error(name, _NUL_MESSAGE) for name in params if any("\x00" in value for value in params.getlist(name))]
    if nul:
        raise SearchInvalid(errors + nul)
    search = Search(condition=Q())
    try:
        search.limit = _int_param(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    except SearchInvalid as invalid:
        errors += invalid.errors
    try:
        search.offset = _int_param(params.get("offset"), "offset", 0, 0, MAX_OFFSET)
    except SearchInvalid as invalid:
        errors += invalid.errors
    sort = (params.get("sort") or "").strip().lower()
    if sort:
        if sort not in _SORT_PARAMS:
            errors.append(_error("sort", f"'{sort}' is not an order; use desc or asc (newest or oldest first)"))
        else:
            search.order = _SORT_PARAMS[sort]
    search.cursor = params.get("cursor") or None
    search.before = params.get("before") or None
    if search.cursor and search.before:
        errors.append(_error("before", "send cursor or before, not both"))
    if search.offset and (search.cursor or search.before):
        errors.append(_error("offset", "send a cursor or an offset, not both"))
    for name in ("cursor", "before"):
        value = getattr(search, name)
        if value:
            try:
                inner, page = cursor_decode(value, order=search.order)
                setattr(search, name, inner)
                if name == "cursor" and page:
                    search.page = page
            except BadCursor as error:
                errors.append(_error(name, str(error)))

    # The filters are the viewer's, `event_type` included.
    filter_params = params.copy()
    for name in _LIST_PARAMS | _IGNORED_PARAMS:
        filter_params.pop(name, None)
    filterset = EventFilterSet(filter_params, now=now)
    if filterset.is_valid():
        search.condition = filterset.condition
    else:
        for name, messages in filterset.errors.items():
            field = _sent_name(name, params)
            for message in messages:
                if name == "q" and filterset.query_error is not None:
                    errors.append(_query_error(field, filterset.query_error))
                else:
                    errors.append(_error(field, message))
    search.query = params.get("q", "")
    if errors:
        raise SearchInvalid(errors)
    return search


def _sent_name(name: str, params: Mapping) -> str:
    """The parameter the client sent for filter `name` (`status` when it wrote status, not outcome)."""
    if name in params:
        return name
    for alias, target in FILTER_ALIASES.items():
        if target == name and alias in params:
            return alias
    return name or "parameters"


def _int_param(raw, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise SearchInvalid([_error(name, f"{name} must be an integer")])
    try:
        value = int(raw)
    except ValueError:
        raise SearchInvalid([_error(name, f"{name} must be an integer")]) from None
    if not low <= value <= high:
        message = f"{name} must be between {low:,} and {high:,}"
        if name in ("offset", "page"):
            message += "; to go further, follow next_page (a cursor)"
        raise SearchInvalid([_error(name, message)])
    return value


# --- fields ------------------------------------------------------------------------------------


def _field_q(query_field: str, values: list[str], *, now: datetime, prefix_on_dot: bool = False) -> Q:
    """`query_field` equals any of `values`, as the query language reads `field:value`."""
    return QueryFieldFilter(query_field, prefix_on_dot=prefix_on_dot).condition(values, now=now)


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
_SEARCH_KEYS = {"query", "q", "start_time", "end_time", "filters", "sort", "limit", "page", "cursor", "include_details"}
_EXPORT_KEYS = {"format", "template", "query", "q", "start_time", "end_time", "filters", "sort"}


def search_from_body(body, *, now: datetime, export: bool = False) -> Search:
    """A search (or export) body as a Search; SearchInvalid naming every bad key."""
    if not isinstance(body, dict):
        raise SearchInvalid([_error(None, "the body must be a JSON object")])
    allowed = _EXPORT_KEYS if export else _SEARCH_KEYS
    errors = [_error(key, f"unknown key '{key}'; the body takes {', '.join(sorted(allowed))}")
              for key in body if key not in allowed]
    nul = [_error(path, _NUL_MESSAGE) for path in _nul_paths(body)]
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
        errors.append(_error("q", "send query or q, not both"))
    query_key = "query" if "query" in body else "q"
    query = body.get(query_key)
    if query not in (None, ""):
        if not isinstance(query, str):
            errors.append(_error(query_key, f"{query_key} must be a string in the query language"))
        else:
            try:
                parts.append(parse_query(query, now=now))
                search.query = query
            except QueryError as error:
                errors.append(_query_error(query_key, error))

    bounds = attempt(_bounds, body.get("start_time"), body.get("end_time"), "start_time", "end_time", now)
    if bounds:
        search.start, search.end = bounds[0], bounds[1]
        parts.append(bounds[2])
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
        search.limit = attempt(_int_param, body.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
        page = attempt(_int_param, body.get("page"), "page", 1, 1, MAX_OFFSET + 1)
        cursor = body.get("cursor")
        if cursor not in (None, ""):
            if not isinstance(cursor, str):
                errors.append(_error("cursor", "cursor must be a string (next_page of the previous answer)"))
            else:
                try:
                    search.cursor, cursor_page = cursor_decode(cursor, order=search.order)
                    search.page = cursor_page or page or 1
                except BadCursor as error:
                    errors.append(_error("cursor", str(error)))
        elif page:
            search.page = page
            search.offset = (page - 1) * search.limit
            if search.offset > MAX_OFFSET:
                errors.append(_error("page", f"page {page} of {search.limit} starts past event {MAX_OFFSET:,}; "
                                             "to go further, follow next_page (a cursor)"))
        details = body.get("include_details", True)
        if not isinstance(details, bool):
            errors.append(_error("include_details", "include_details must be true or false"))
        else:
            search.include_details = details
    if errors:
        raise SearchInvalid(errors)
    search.condition = Q(*parts) if parts else Q()
    return search


def _format(value) -> str:
    if value in (None, ""):
        raise SearchInvalid([_error("format", f"format is required: one of {', '.join(EXPORT_FORMATS)}")])
    if not isinstance(value, str):
        raise SearchInvalid([_error("format", f"format must be one of {', '.join(EXPORT_FORMATS)}")])
    name = value.strip().lower()
    if name not in EXPORT_FORMATS:
        raise SearchInvalid([_error("format", f"'{value}' is not a format; use {', '.join(EXPORT_FORMATS)}")])
    return name


def _template(fmt: str, value) -> int | None:
    """The id of the stored template a "template" export renders (required there, refused elsewhere)."""
    if fmt != TEMPLATE:
        if value not in (None, ""):
            raise SearchInvalid([_error("template", "template is only taken with the format \"template\"")])
        return None
    if value in (None, ""):
        raise SearchInvalid([_error("template", "the format \"template\" needs template: the id of a stored export template")])
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) < 1:
        raise SearchInvalid([_error("template", "template must be the id (a positive integer) of a stored export template")])
    return int(value)


def _sort(value) -> str:
    if not isinstance(value, dict):
        raise SearchInvalid([_error("sort", 'sort must be an object like {"field": "timestamp", "order": "desc"}')])
    errors = [_error(f"sort.{key}", f"unknown key '{key}'; sort takes field and order")
              for key in value if key not in ("field", "order")]
    field = value.get("field", "timestamp")
    if field not in _SORT_FIELDS:
        errors.append(_error("sort.field", f"events are sorted by timestamp only, not '{field}'"))
    order = value.get("order", "desc")
    if not isinstance(order, str) or order.lower() not in _SORT_ORDERS:
        errors.append(_error("sort.order", f"'{order}' is not an order; use asc or desc"))
    if errors:
        raise SearchInvalid(errors)
    return _SORT_ORDERS[order.lower()]


def _time(value, name: str, now: datetime):
    if not isinstance(value, str) or not value.strip():
        raise SearchInvalid([_error(name, f"{name} must be a time: 2026-03-10T14:30:00Z, 2026-03-10 or now-24h")])
    text = value.strip()
    try:
        return time_span(Value(text, False, 0, len(text)), now=now)
    except QueryError as error:
        raise SearchInvalid([_error(name, error.message)]) from None


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
        errors.append(_error(end_name, f"{end_name} is not after {start_name}"))
    if errors:
        raise SearchInvalid(errors)
    return start, end, condition


def _strings(value, name: str) -> list[str]:
    """A string or a list of strings (seed 001 writes one value, seed 004 lists)."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise SearchInvalid([_error(name, f"{name} must be a non-empty string or a list of non-empty strings")])
    return [item.strip() for item in items]


def _filters_q(filters, now: datetime, search: Search) -> Q:
    if not isinstance(filters, dict):
        raise SearchInvalid([_error("filters", "filters must be an object")])
    errors = [_error(f"filters.{key}", f"unknown filter '{key}'; filters take {', '.join(sorted(_FILTER_KEYS))}")
              for key in filters if key not in _FILTER_KEYS]
    parts: list[Q] = []
    for key, value in filters.items():
        name = f"filters.{key}"
        try:
            if key in _BODY_FIELDS:
                field, prefix = _BODY_FIELDS[key]
                parts.append(_compiled(name, lambda v=value, n=name, f=field, p=prefix:
                                       _field_q(f, _strings(v, n), now=now, prefix_on_dot=p)))
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
        raise SearchInvalid([_error(name, error.message)]) from None


def _date_range(value, now: datetime, search: Search) -> Q:
    if not isinstance(value, dict):
        raise SearchInvalid([_error("filters.date_range", 'date_range must be an object like {"start": ..., "end": ...}')])
    errors = [_error(f"filters.date_range.{key}", f"unknown key '{key}'; date_range takes start and end")
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
        raise SearchInvalid([_error("filters.actors", "actors must be an object like {\"user_ids\": [...]}")])
    errors = [_error(f"filters.actors.{key}", f"unknown key '{key}'; actors take {', '.join(sorted(_ACTOR_FIELDS))}")
              for key in value if key not in _ACTOR_FIELDS]
    parts = []
    for key, items in value.items():
        if key not in _ACTOR_FIELDS:
            continue
        name = f"filters.actors.{key}"
        try:
            parts.append(_compiled(name, lambda v=items, n=name, f=_ACTOR_FIELDS[key]: _field_q(f, _strings(v, n), now=now)))
        except SearchInvalid as invalid:
            errors += invalid.errors
    if errors:
        raise SearchInvalid(errors)
    return Q(*parts) if parts else Q()


__all__ = [
    "EXPORT_FORMATS", "MAX_LIMIT", "MAX_OFFSET", "ORDERS", "Search", "SearchInvalid", "cursor_decode",
    "cursor_encode", "event_type_q", "search_from_body", "search_from_params",
]
