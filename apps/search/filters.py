"""Structured filters over the log: the viewer's filter bar and the read API's parameters.

One set of parameter names, shared by the console (`/events/?actor=...`) and the API
(`GET /api/v1/audit-logs?actor=...`), so a URL copied from one works in the other:

=================  ================================================================================
`q`                a query in the query language (apps.events.query); an invalid one is an error on
                   `q` whose message names the column, e.g. "unknown field 'x' (at column 1)"
`range`            a preset window ending now: 15m, 1h, 24h, 7d, 30d or all
`start_date`       from this time on (inclusive): 2026-03-10, 2026-03-10T14:30, 2026-03-10T14:30:45Z,
                   also now-2h, today, yesterday. No zone means UTC.
`end_date`         up to this time: a date alone covers that whole day, a timestamp to its second.
                   When either end is given, `range` is ignored.
`actor`            the actor's id, name or email, ignoring case (`*` is a wildcard: `*@example.com`)
`user_id`          the actor's id, ignoring case
`action`           exactly this action, or a prefix when it ends with `*` or `.` (`iam.role.*`,
                   `iam.`)
`event_type`       broader than `action`: the action itself, any action below it and the category
                   of that name or alias (`authentication` finds auth.login and the auth category;
                   `iam.role` finds iam.role.update); with `*`, an action pattern (`policy.*`);
                   several allowed. The API's and the body's `event_type`/`event_types` are the same
                   rule (`event_type_q`)
`category`         auth, authz, compute, ... (`cost` also finds billing); several allowed
`outcome`          success, failure, denied, error, unknown and their synonyms (`failed`); `status`
                   is an alias; several allowed
`severity`         info, low, medium, high, critical; several allowed
`resource_type`    exact
`resource_id`      exact (`*` wildcards allowed)
`project`          exact
`ip`               an address, a CIDR block (10.0.0.0/8) or a wildcard (203.0.113.*)
`auth_method`      password, saml, oidc, token, mfa, system
`trace_id`         exact
`tags`             any of these tags
=================  ================================================================================

Where several values are allowed they come as a repeated parameter (`outcome=failure&outcome=denied`),
a comma list (`outcome=failure,denied`) or both; an event matching any of them matches. All
parameters combine with AND. Other parameters (`cursor`, `sort`, `cols`, `limit`, ...) are
ignored here.

Every filter is compiled by the query language's own compiler (a filter `actor=bob` means
exactly what the query `actor:bob` means), so both keep the same semantics and indexes.

Use
---

Without a request (API, saved queries, alert previews)::

    condition, errors = filter_q(request.GET)            # or a plain dict
    if errors:
        return 400 with errors                           # {"q": ["... (at column 7)"], ...}
    events = Event.objects.visible_to(token).filter(condition)

With a queryset, as a FilterSet::

    filterset = EventFilterSet(request.GET, queryset=Event.objects.visible_to(request.user))
    filterset.is_valid(); filterset.errors; filterset.qs; filterset.form  # the filter bar
    filterset.query_error   # the QueryError of `q` (position, end, pointer()) or None
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

import django_filters
from django import forms
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from apps.events.models import Event
from apps.events.query import QueryError
from apps.events.query.compiler import NOTHING
from apps.events.schema import OUTCOMES, SEVERITIES
from apps.search.filter_fields import (
    RANGE_CHOICES, RANGE_PRESETS, BoundFilter, CommaListWidget, EventTypeFilter, QueryLanguageFilter, RangeFilter,
    TextFilter, TextWidget, ValueListFilter, event_type_q,
)

CATEGORY_CHOICES = [(c, c) for c in (
    "auth", "authz", "compute", "network", "storage", "iam", "billing", "config", "data",
    "security", "system", "audit",
)]
AUTH_METHOD_CHOICES = [("", "Any")] + [(m, m) for m in ("password", "saml", "oidc", "token", "mfa", "system")]

# Parameters that are other names for a filter: the API's and the seeds' spellings. (`event_type`
# is not one: it is a filter of its own, broader than `action`; see event_type_q.)
ALIASES = {"status": "outcome"}

# Filters shown in the viewer's filter bar; the aliases are accepted but not shown.
FILTER_BAR_FIELDS = (
    "range", "start_date", "end_date", "actor", "action", "category", "outcome", "severity",
    "resource_type", "resource_id", "project", "ip", "auth_method", "trace_id", "tags",
)


# Paging state: dropped whenever anything else changes, so a new search starts at the top.
PAGING = ("cursor", "before")


def viewer_querystring(params: QueryDict, *, drop: tuple[str, ...] = PAGING, **changes) -> str:
    """`params` without empty values and `drop`, with `changes` set (None removes a key)."""
    pairs: list[tuple[str, str]] = []
    for key in params:
        if key in drop or key in changes:
            continue
        pairs.extend((key, value) for value in params.getlist(key) if value != "")
    for key, value in changes.items():
        if value is None or value == "":
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs.extend((key, str(item)) for item in values)
    return urlencode(pairs)


def filter_q(params: Mapping, *, now: datetime | None = None) -> tuple[Q, dict[str, list[str]]]:
    """The condition the filter parameters `params` describe, and their errors.

    `params` is a QueryDict (request.GET) or a plain dict whose values are strings or lists
    of strings. Returns `(condition, errors)`: `errors` maps each refused parameter to its
    messages (the `q` message ends with "(at column N)"). With errors, `condition` matches
    nothing, so a caller that forgets to check them shows no events rather than too many.
    Without any parameter, `condition` is `Q()` (everything). `now` anchors the presets and
    relative times (default: the current time). The condition does not restrict visibility:
    apply it to `Event.objects.visible_to(principal)`.
    """
    filterset = EventFilterSet(params, now=now)
    if not filterset.is_valid():
        return NOTHING, {name: list(messages) for name, messages in filterset.errors.items()}
    return filterset.condition, {}


def as_querydict(params: Mapping) -> QueryDict:
    """`params` as a QueryDict: lists become repeated values (plain dicts from JSON bodies)."""
    if isinstance(params, QueryDict):
        return params
    data = QueryDict(mutable=True)
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            data.setlist(key, [str(item) for item in value])
        else:
            data[key] = str(value)
    return data


# --- the filter set --------------------------------------------------------------------------------


class EventFilterForm(forms.Form):
    """The filter bar. Validation compiles every filter, so an error is known before any read."""

    filterset: "EventFilterSet"

    def clean(self):
        cleaned = super().clean()
        self.condition = self.filterset.compile(self, cleaned)
        return cleaned


class EventFilterSet(django_filters.FilterSet):
    """The structured filters of the log (see the module's docstring for each parameter).

    `EventFilterSet(params, queryset=..., now=...)`; without a queryset it filters all events,
    which a caller must then narrow with `visible_to`. `.condition` is the Q of all filters
    (NOTHING when invalid), `.qs` the queryset filtered by it (empty when invalid),
    `.query_error` the QueryError of `q` for pointing at its position.
    """

    q = QueryLanguageFilter(label="Query")
    range = RangeFilter(label="Time range")
    start_date = BoundFilter(end=False, label="From (UTC)",
                             widget=forms.TextInput(attrs={"placeholder": "YYYY-MM-DD", "autocomplete": "off"}))
    end_date = BoundFilter(end=True, label="To (UTC)",
                           widget=forms.TextInput(attrs={"placeholder": "YYYY-MM-DD", "autocomplete": "off"}))
    actor = TextFilter("actor", label="Actor", widget=TextWidget(attrs={"placeholder": "email, name or id"}))
    user_id = TextFilter("actor.id", label="User id")
    action = TextFilter("action", prefix_on_dot=True, label="Action",
                        widget=TextWidget(attrs={"placeholder": "iam.role.* or auth.login"}))
    event_type = EventTypeFilter(label="Event type")
    category = ValueListFilter("category", label="Category", choices=CATEGORY_CHOICES)
    outcome = ValueListFilter("outcome", label="Outcome", choices=Event.Outcome.choices, synonyms=OUTCOMES)
    severity = ValueListFilter("severity", label="Severity", choices=Event.Severity.choices, synonyms=SEVERITIES)
    resource_type = TextFilter("resource.type", label="Resource type")
    resource_id = TextFilter("resource.id", label="Resource id")
    project = TextFilter("project", label="Project")
    ip = TextFilter("ip_address", label="Source IP", widget=TextWidget(attrs={"placeholder": "address, CIDR or 10.1.*"}))
    auth_method = TextFilter("auth_method", label="Auth method", widget=forms.Select(choices=AUTH_METHOD_CHOICES))
    trace_id = TextFilter("trace_id", label="Trace id")
    tags = ValueListFilter("tags", label="Tags", widget=CommaListWidget(attrs={"placeholder": "comma list, any of"}))

    class Meta:
        model = Event
        fields: list[str] = []
        form = EventFilterForm

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, now: datetime | None = None):
        if data is not None:
            data = _with_aliases(as_querydict(data))
        if queryset is None:
            # Without a queryset there is nobody to see events for: the filter set then only
            # validates and builds `condition`, which callers apply to visible_to(principal).
            queryset = Event.objects.visible_to(None)
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.now = now or timezone.now()
        self.query_error: QueryError | None = None

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form = super().form
            form.filterset = self
        return self._form

    @property
    def condition(self) -> Q:
        if not self.is_bound:
            return Q()
        if not self.form.is_valid():
            return NOTHING
        return self.form.condition

    @property
    def qs(self):
        if not hasattr(self, "_qs"):
            self._qs = self.queryset.all().filter(self.condition) if self.is_bound else self.queryset.all()
        return self._qs

    def filter_queryset(self, queryset):
        return queryset.filter(self.condition)

    @property
    def active(self) -> dict[str, object]:
        """The filters that hold a value (for chips in the UI), after validation."""
        if not self.is_bound or not self.form.is_valid():
            return {}
        return {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "", [])}

    def compile(self, form: forms.Form, cleaned: dict) -> Q:
        """The Q of every valid value in `cleaned`; each refused one becomes a form error."""
        condition = Q()
        bounds = {}
        has_bounds = bool(cleaned.get("start_date") or cleaned.get("end_date"))
        for name, value in list(cleaned.items()):
            if value in (None, "", []):
                continue
            if name == "range" and has_bounds:
                continue  # an absolute from/to replaces the preset
            filter_ = self.filters[name]
            try:
                part = filter_.condition(value, now=self.now)
                if isinstance(filter_, BoundFilter):
                    bounds[name] = filter_.span(value, now=self.now)
            except QueryError as error:
                if name == "q":
                    self.query_error = error
                    form.add_error(name, str(error))
                else:
                    form.add_error(name, error.message)
                continue
            if part:
                condition &= part
        if "start_date" in bounds and "end_date" in bounds:
            if bounds["end_date"].end <= bounds["start_date"].start:
                form.add_error("end_date", "the end is before the start")
        return condition


def _with_aliases(data: QueryDict) -> QueryDict:
    """`status` reads as `outcome` (both given: their values make one list)."""
    if not any(alias in data for alias in ALIASES):
        return data
    data = data.copy()
    for alias, target in ALIASES.items():
        if alias in data:
            values = [v for v in data.getlist(alias) if v.strip()]
            data.setlist(target, data.getlist(target) + values)
            del data[alias]
    return data


__all__ = [
    "EventFilterSet", "FILTER_BAR_FIELDS", "RANGE_CHOICES", "RANGE_PRESETS", "as_querydict", "event_type_q", "filter_q",
]
