"""The one parameter front-end of every read of events: what a person or a token asks for, as a `Search`.

Three inputs, one meaning:

- the viewer's GET parameters (`/events/?actor=...&q=...`): apps.search.filters.EventFilterSet,
  the filter bar's form, built of apps.search.filter_fields;
- the API's GET parameters (`GET /api/v1/audit-logs`): `search_from_params` here, the same
  EventFilterSet plus `limit`, `cursor`, `before`, `offset` and `sort`, so a URL copied from
  the console works against the API;
- the seeds' JSON bodies (`POST /api/v1/audit-logs/search` and `/export`): apps.search.bodies.

Each becomes one condition (a Q, applied by apps.search.reads to
`Event.objects.visible_to(principal)`), an order and the paging asked for. Every parameter and
every key is checked; whatever is unknown or malformed raises `SearchInvalid`, whose errors
name it (`limit`, `filters.actors.user_ids`) in the API's error shape (apps.events.errors);
query-language errors add where in the query the problem is (`position`, `column`, `end`).
Every filter, whichever input it came from, is compiled by the query language's own compiler
(a filter `actor=bob` means what the query `actor:bob` means). Cursors: apps.search.cursors.

Event types. `event_type` (GET and body, also seed 004's list `event_types`) is broader than
`action`: a value matches the action itself, any action below it (`authentication` finds
`authentication.login`; `iam.role` finds `iam.role.update`), and the category of that name or
alias (`authentication` → auth, `authorization` → authz). Values with `*` are action patterns
(`policy.*`). `action` stays exact (or a prefix when it ends in `.` or `*`). The rule is
apps.search.filter_fields.event_type_q, the same the viewer applies to its `event_type` parameter.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.http import QueryDict

from apps.search import activity as activity_choice
from apps.search.filters import ALIASES as FILTER_ALIASES
from apps.search.filter_fields import QueryFieldFilter, event_type_q
from apps.search.filters import EventFilterSet
from apps.events.errors import field_error
from apps.events.query import QueryError
from apps.search.reads import ORDERS
from apps.search.cursors import BadCursor, cursor_decode
from apps.search.formats import FORMAT_NAMES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# Offsets (and pages) reach as far as the exact count does; past it, follow the cursor.
MAX_OFFSET = 10_000

# The formats of apps.search.formats; "template" takes a stored template's id too.
EXPORT_FORMATS = FORMAT_NAMES

SORT_FIELDS = ("timestamp", "occurred_at", "time")
SORT_ORDERS = {"desc": "newest", "asc": "oldest"}
# `sort` as a GET parameter: the viewer's words and the API's.
_SORT_PARAMS = {
    "newest": "newest", "oldest": "oldest", "desc": "newest", "asc": "oldest",
    "-timestamp": "newest", "timestamp": "oldest", "-occurred_at": "newest", "occurred_at": "oldest",
}

# GET parameters besides the filters: paging, order, whose activity, and the viewer's column
# choice (ignored).
_LIST_PARAMS = {"limit", "cursor", "before", "offset", "sort", activity_choice.PARAM}
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
NUL_MESSAGE = "the value holds a NUL character (\\u0000)"


def nul_paths(value, path: str = "") -> list[str]:
    """The dotted paths of a JSON body whose strings (keys or values) hold NUL."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if "\x00" in str(key) else nul_paths(item, child)
        return found
    if isinstance(value, list):
        return [found for item in value for found in nul_paths(item, path)]
    return []


def query_error(field: str, error: QueryError) -> dict:
    return field_error(field, str(error), position=error.position, column=error.column, end=error.end)


# --- GET /api/v1/audit-logs ------------------------------------------------------------------


def search_from_params(params: QueryDict, *, now: datetime) -> Search:
    """The list's GET parameters as a Search; SearchInvalid naming every bad parameter."""
    known = set(EventFilterSet.base_filters) | set(FILTER_ALIASES) | _LIST_PARAMS | _IGNORED_PARAMS
    errors = [
        field_error(name, f"unknown parameter '{name}'; the list takes {', '.join(sorted(known - _IGNORED_PARAMS))}")
        for name in params if name not in known
    ]
    nul = [field_error(name, NUL_MESSAGE) for name in params if any("\x00" in value for value in params.getlist(name))]
    if nul:
        raise SearchInvalid(errors + nul)
    search = Search(condition=Q())
    try:
        search.limit = int_param(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    except SearchInvalid as invalid:
        errors += invalid.errors
    try:
        search.offset = int_param(params.get("offset"), "offset", 0, 0, MAX_OFFSET)
    except SearchInvalid as invalid:
        errors += invalid.errors
    sort = (params.get("sort") or "").strip().lower()
    if sort:
        if sort not in _SORT_PARAMS:
            errors.append(field_error("sort", f"'{sort}' is not an order; use desc or asc (newest or oldest first)"))
        else:
            search.order = _SORT_PARAMS[sort]
    search.cursor = params.get("cursor") or None
    search.before = params.get("before") or None
    if search.cursor and search.before:
        errors.append(field_error("before", "send cursor or before, not both"))
    if search.offset and (search.cursor or search.before):
        errors.append(field_error("offset", "send a cursor or an offset, not both"))
    for name in ("cursor", "before"):
        value = getattr(search, name)
        if value:
            try:
                inner, page = cursor_decode(value, order=search.order)
                setattr(search, name, inner)
                if name == "cursor" and page:
                    search.page = page
            except BadCursor as error:
                errors.append(field_error(name, str(error)))

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
                    errors.append(query_error(field, filterset.query_error))
                else:
                    errors.append(field_error(field, message))
    search.query = params.get("q", "")
    activity = params.getlist(activity_choice.PARAM)
    if len(activity) > 1:
        errors.append(field_error(activity_choice.PARAM, "send activity once: systems, console or all"))
    else:
        try:
            search.condition &= activity_condition(activity[0] if activity else None)
        except SearchInvalid as invalid:
            errors += invalid.errors
    if errors:
        raise SearchInvalid(errors)
    return search


# The API's default for `activity`: every event, the console's own records included. The viewer
# shows "the events systems sent" by default, because a person browsing would otherwise see
# mostly their own clicks; but API clients (SIEM pulls, scripts, auditors' tools) were given the
# console's records (category `audit`) before this parameter existed, and many pull them on
# purpose (seed 001's "audit log of audit logs"). Narrowing their default would make them lose
# events silently, so the API keeps "all" and clients ask for `activity=systems` (the viewer's
# default) or `activity=console`. The OpenAPI document and the README say so.
API_ACTIVITY_DEFAULT = activity_choice.ALL


def activity_condition(raw) -> Q:
    """The condition of the API's `activity` (GET parameter or body key); SearchInvalid naming it."""
    if raw is None or raw == "":
        raw = API_ACTIVITY_DEFAULT
    if not isinstance(raw, str) or raw not in activity_choice.CHOICES:
        shown = raw if isinstance(raw, str) else type(raw).__name__
        raise SearchInvalid([field_error(
            activity_choice.PARAM,
            f"'{shown}' is not an activity; use systems (the events systems sent), console (the console's own "
            f"records, category audit) or all (both; the default)")])
    return activity_choice.activity_q(raw)


def _sent_name(name: str, params: Mapping) -> str:
    """The parameter the client sent for filter `name` (`status` when it wrote status, not outcome)."""
    if name in params:
        return name
    for alias, target in FILTER_ALIASES.items():
        if target == name and alias in params:
            return alias
    return name or "parameters"


def int_param(raw, name: str, default: int | None, low: int, high: int) -> int | None:
    """An integer parameter of the API (query string or JSON body), or `default` when absent."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise SearchInvalid([field_error(name, f"{name} must be an integer")])
    try:
        value = int(raw)
    except ValueError:
        raise SearchInvalid([field_error(name, f"{name} must be an integer")]) from None
    if not low <= value <= high:
        message = f"{name} must be between {low:,} and {high:,}"
        if name in ("offset", "page"):
            message += "; to go further, follow next_page (a cursor)"
        raise SearchInvalid([field_error(name, message)])
    return value


# --- fields ------------------------------------------------------------------------------------


def field_q(query_field: str, values: list[str], *, now: datetime, prefix_on_dot: bool = False) -> Q:
    """`query_field` equals any of `values`, as the query language reads `field:value`."""
    return QueryFieldFilter(query_field, prefix_on_dot=prefix_on_dot).condition(values, now=now)


__all__ = [
    "EXPORT_FORMATS", "MAX_LIMIT", "MAX_OFFSET", "ORDERS", "Search", "SearchInvalid", "event_type_q",
    "search_from_params",
]
