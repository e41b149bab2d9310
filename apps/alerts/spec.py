"""What a rule means: its fields checked, and compiled into what the evaluator runs.

    rule_errors(values) -> {field: message}    # one validation for the form, YAML and the API
    rule_compile(rule) -> Compiled              # Q objects, window, group and value extractors
    duration_parse("5m") -> timedelta

Conditions are the console's query language (apps.events.query); group-by and value fields are
its field names (`actor.email`, `ip`, `resource.id`, `metadata.geo.country`, ...), and `actor`
groups by the actor's label (email, else name, else id).
"""
from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from django.db.models import Q

from apps.events.query import FIELDS, QueryError, field_get, parse_query
from apps.events.query.nodes import FieldName

KINDS = ("match", "threshold", "first_seen", "sequence", "absence")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_WINDOW = timedelta(days=30)
MAX_LEARNING = timedelta(days=365)
# How long after a window closes a late event (by event time) still finds its neighbours.
LATENESS = timedelta(minutes=10)
_KNOWN = sorted({name for f in FIELDS for name in (f.name, *f.aliases)})


def duration_parse(text: str, *, maximum: timedelta = MAX_WINDOW) -> timedelta:
    """`30s`, `5m`, `1h`, `7d`, `2w` as a timedelta; ValueError with a message otherwise."""
    match = _DURATION.match(text or "")
    if match is None:
        raise ValueError(f"'{text}' is not a duration: write a number and a unit (s, m, h, d, w), e.g. 5m")
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if value <= timedelta(0):
        raise ValueError(f"'{text}' is an empty window: it must be longer than 0")
    if value > maximum:
        raise ValueError(f"'{text}' is longer than the longest allowed ({maximum.days} days)")
    return value


def _column_getter(name: str) -> Callable[[dict], str]:
    """How to read a field's value from an event row (a dict of columns)."""
    if name.strip().lower() == "actor":
        return lambda row: row.get("actor_email") or row.get("actor_name") or row.get("actor_id") or ""
    found = field_get(FieldName(name, 0, len(name)))
    if found.kind == "json" and not name.lower().startswith(("metadata.", "changes.")):
        # The query language reads an unknown dotted name as a key kept in metadata
        # (actor.department); for grouping, a near miss of a real field is a typo.
        close = difflib.get_close_matches(name.lower(), _KNOWN, n=1, cutoff=0.85)
        if close:
            raise QueryError(f"unknown field '{name}'; did you mean {close[0]}? "
                             f"(write metadata.{name} for a key of the event's metadata)")
    if found.kind == "json":
        column, path = found.columns[0], found.path

        def json_value(row: dict) -> str:
            value = row.get(column)
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return "" if value is None else str(value)

        return json_value
    if found.kind == "time":
        raise QueryError(f"'{name}' is a time; group by a field with a few values, such as actor.email or ip")
    if len(found.columns) != 1:
        raise QueryError(f"'{name}' reads several fields; name one of them (e.g. actor.email)")
    column = found.columns[0]
    if found.kind == "array":
        return lambda row: ",".join(sorted(row.get(column) or []))
    return lambda row: "" if row.get(column) is None else str(row.get(column))


def _fields_error(names: list[str]) -> str | None:
    for name in names:
        try:
            _column_getter(name)
        except QueryError as error:
            return error.message
    return None


def rule_errors(values: dict) -> dict[str, str]:
    """Every problem of a rule's values, by field name; empty when the rule is valid."""
    errors: dict[str, str] = {}
    kind = values.get("kind") or "match"
    if kind not in KINDS:
        errors["kind"] = f"unknown kind '{kind}': one of {', '.join(KINDS)}"
        return errors
    for name in ("condition", "then_condition"):
        text = values.get(name) or ""
        if name == "condition" and not text.strip():
            errors[name] = "write a condition in the query language, e.g. action:auth.login AND outcome:failure"
            continue
        if name == "then_condition" and kind != "sequence":
            continue
        if name == "then_condition" and not text.strip():
            errors[name] = "a sequence needs the condition of its second step (what follows)"
            continue
        try:
            parse_query(text)
        except QueryError as error:
            errors[name] = f"does not parse: {error}"
    needs_window = kind in ("threshold", "sequence", "absence")
    if needs_window or values.get("window"):
        try:
            duration_parse(values.get("window") or "")
        except ValueError as error:
            errors["window"] = str(error)
    threshold = values.get("threshold")
    if threshold is not None and (not isinstance(threshold, int) or threshold < 1 or threshold > 1_000_000):
        errors["threshold"] = "the count must be a whole number from 1 to 1,000,000"
    group_error = _fields_error(list(values.get("group_by") or []))
    if group_error:
        errors["group_by"] = group_error
    if kind == "first_seen" and not values.get("distinct_field"):
        errors["distinct_field"] = "a first-seen rule needs the field whose new values it reports (e.g. ip)"
    if values.get("distinct_field"):
        error = _fields_error([values["distinct_field"]])
        if error:
            errors["distinct_field"] = error
    if values.get("learning_period"):
        try:
            duration_parse(values["learning_period"], maximum=MAX_LEARNING)
        except ValueError as error:
            errors["learning_period"] = str(error)
    hours = values.get("working_hours") or {}
    if hours:
        error = _working_hours_error(hours)
        if error:
            errors["working_hours"] = error
    return errors


def _working_hours_error(hours: dict) -> str | None:
    try:
        zoneinfo.ZoneInfo(str(hours.get("timezone") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{hours.get('timezone')}'"
    for key in ("start", "end"):
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(hours.get(key) or "")):
            return f"{key} must be a time of day like 08:00"
    days = hours.get("days", [0, 1, 2, 3, 4])
    if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
        return "days must be a list of weekday numbers, 0 (Monday) to 6 (Sunday)"
    return None


@dataclass
class Compiled:
    """A rule ready for evaluation."""

    q: Q
    then_q: Q | None
    window: timedelta | None
    learning: timedelta | None
    group_names: list[str]
    group_getters: list[Callable[[dict], str]] = field(repr=False)
    value_getter: Callable[[dict], str] | None = field(repr=False)

    def group_of(self, row: dict) -> dict[str, str]:
        return {name: getter(row) for name, getter in zip(self.group_names, self.group_getters)}


def rule_compile(rule) -> Compiled:
    """The evaluator's view of a valid rule (QueryError/ValueError if it is not valid)."""
    return Compiled(
        q=parse_query(rule.condition),
        then_q=parse_query(rule.then_condition) if rule.kind == "sequence" else None,
        window=duration_parse(rule.window) if rule.window else None,
        learning=duration_parse(rule.learning_period, maximum=MAX_LEARNING) if rule.learning_period else None,
        group_names=list(rule.group_by),
        group_getters=[_column_getter(name) for name in rule.group_by],
        value_getter=_column_getter(rule.distinct_field) if rule.distinct_field else None,
    )


def outside_working_hours(rule, when) -> bool:
    """True when the rule has working hours and `when` falls outside them (in their time zone)."""
    hours = rule.working_hours or {}
    if not hours:
        return True
    local = when.astimezone(zoneinfo.ZoneInfo(hours.get("timezone") or "UTC"))
    if local.weekday() not in hours.get("days", [0, 1, 2, 3, 4]):
        return True
    hhmm = local.strftime("%H:%M")
    return not (hours["start"] <= hhmm < hours["end"])
