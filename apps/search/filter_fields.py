"""The fields and filters the viewer's filter bar and the read API's GET parameters are made of
(apps.search.filters assembles them into EventFilterSet). Each filter compiles its value with the
query language's own compiler, so a parameter means exactly what the same query term means."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from apps.events.query import parse_query
from apps.events.query.compiler import NOTHING, compile_query
from apps.events.query.fields import category_values
from apps.events.query.nodes import Compare, FieldName, Or, Value
from apps.events.query.values import time_span

RANGE_PRESETS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}

RANGE_CHOICES = [
    ("15m", "Last 15 minutes"), ("1h", "Last hour"), ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("all", "All time"),
]

def _value_list(data, name: str) -> list[str]:
    raw = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
    if isinstance(raw, str):
        raw = [raw]
    values: list[str] = []
    for item in raw or []:
        values.extend(part.strip() for part in str(item).split(",") if part.strip())
    return values


# --- fields --------------------------------------------------------------------------------------


class ValueListWidget(forms.CheckboxSelectMultiple):
    """Checkboxes that also read a comma list (`outcome=failure,denied`) and the parameter's alias."""

    def value_from_datadict(self, data, files, name):
        return _value_list(data, name)

    def value_omitted_from_data(self, data, files, name):
        return False


class ValueListField(forms.Field):
    """Several values; the query language's compiler decides which are acceptable."""

    widget = ValueListWidget

    def __init__(self, *, choices=(), synonyms: Mapping[str, str] | None = None, **kwargs):
        kwargs.setdefault("required", False)
        self.synonyms = synonyms or {}
        super().__init__(**kwargs)
        if hasattr(self.widget, "choices"):
            self.widget.choices = list(choices)

    def to_python(self, value) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        # Synonyms become the stored value (`failed` → failure), so the right box is ticked.
        items = (str(item).strip() for item in value if str(item).strip())
        return list(dict.fromkeys(self.synonyms.get(item.lower(), item) for item in items))

    def bound_data(self, data, initial):
        return self.to_python(data)

    def validate(self, value) -> None:
        super().validate(value)
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if any("\x00" in item for item in value):
            raise forms.ValidationError("contains a NUL character")


class TextWidget(forms.TextInput):
    """A text input; a list value (tags) shows as a comma list."""

    def format_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return super().format_value(value)


class CommaListWidget(TextWidget):
    """A text box read as a comma list (`tags=a,b`), also from repeated parameters."""

    def value_from_datadict(self, data, files, name):
        return _value_list(data, name)


# --- filters -------------------------------------------------------------------------------------


class QueryFieldFilter(django_filters.Filter):
    """A filter on one field of the query language: `actor=bob` means the query `actor:bob`.

    Wildcards, synonyms (`failed`), category aliases, IP blocks and the indexes are the query
    language's; a value it refuses is an error on this filter.
    """

    field_class = forms.CharField

    def __init__(self, query_field: str, *, prefix_on_dot: bool = False, **kwargs):
        self.query_field = query_field
        self.prefix_on_dot = prefix_on_dot
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def condition(self, value, *, now: datetime) -> Q:
        values = value if isinstance(value, list) else [value]
        values = [item.strip() for item in values if item and item.strip()]
        if not values:
            return Q()
        if self.prefix_on_dot:
            # `iam.` is the prefix `iam.*`: a trailing dot cannot end an action.
            values = [item + "*" if item.endswith(".") else item for item in values]
        compares = tuple(
            Compare(FieldName(self.query_field, 0, len(self.query_field)), "=", Value(item, False, 0, len(item)))
            for item in values
        )
        return compile_query(compares[0] if len(compares) == 1 else Or(compares), now=now)

    def filter(self, qs, value):  # pragma: no cover - EventFilterSet filters through `condition`
        return qs.filter(self.condition(value, now=timezone.now()))


class TextFilter(QueryFieldFilter):
    def __init__(self, query_field: str, **kwargs):
        kwargs.setdefault("widget", TextWidget)
        super().__init__(query_field, **kwargs)


class ValueListFilter(QueryFieldFilter):
    field_class = ValueListField


def event_type_q(values: list[str], *, now: datetime) -> Q:
    """Events whose type is any of `values`: the action, an action below it, or the category.

    The one rule for `event_type` wherever it is written: the viewer's URL, the API's GET
    parameter, and the `event_type`/`event_types` of search and export bodies. `authentication`
    finds the action `authentication`, the actions `authentication.*` and the category
    `authentication` or the one it is an alias of (auth); `iam.role` finds iam.role and
    iam.role.*; a value with `*` is an action pattern (`policy.*`). QueryError for a value the
    query language refuses.
    """
    condition = NOTHING
    for raw in values:
        value = raw.strip().lower()
        if not value:
            continue
        if "*" in value:
            part = QueryFieldFilter("action").condition([value], now=now)
        else:
            stem = value.rstrip(".")
            part = QueryFieldFilter("action").condition([stem, stem + ".*"], now=now)
            if "." not in stem:
                part |= Q(category__in=category_values(stem))
        condition = part if condition is NOTHING else condition | part
    return condition


class EventTypeFilter(QueryFieldFilter):
    """`event_type`: several values (a comma list or repeated), each read by event_type_q."""

    field_class = ValueListField

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", CommaListWidget(attrs={"placeholder": "authentication, iam.role or policy.*"}))
        super().__init__("action", **kwargs)

    def condition(self, value, *, now: datetime) -> Q:
        values = value if isinstance(value, list) else [value]
        values = [item for item in values if item and item.strip()]
        return event_type_q(values, now=now) if values else Q()


class QueryLanguageFilter(django_filters.Filter):
    """`q`: a whole query in the query language."""

    field_class = forms.CharField

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def condition(self, value: str, *, now: datetime) -> Q:
        return parse_query(value or "", now=now)


class RangeFilter(django_filters.Filter):
    field_class = forms.ChoiceField

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("choices", [("", "Any time")] + RANGE_CHOICES)
        super().__init__(**kwargs)

    def condition(self, value: str, *, now: datetime) -> Q:
        delta = RANGE_PRESETS.get(value)
        return Q(occurred_at__gte=now - delta) if delta else Q()


class BoundFilter(django_filters.Filter):
    """`start_date` or `end_date`: a time as the query language reads it (date, timestamp, now-2h)."""

    field_class = forms.CharField

    def __init__(self, *, end: bool, **kwargs):
        self.end = end
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def span(self, value: str, *, now: datetime):
        return time_span(Value(value.strip(), False, 0, len(value.strip())), now=now)

    def condition(self, value: str, *, now: datetime) -> Q:
        span = self.span(value, now=now)
        if not self.end:
            return Q(occurred_at__gte=span.start)
        # A date covers its whole day, a timestamp its second; an instant (now-1h) is inclusive.
        return Q(occurred_at__lte=span.end) if span.instant else Q(occurred_at__lt=span.end)
