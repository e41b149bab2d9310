"""Whose activity a page of the log shows: the events systems sent, or the console's own trail.

Every page view, search and export of the console is written into the log (category `audit`,
actions `audit.*`: apps.rbac.audit_trail), as it must be; but shown among the events systems
sent, an analyst's own clicks soon outnumber them. So the viewer, the live view and the
dashboard show, by default, the events systems sent ("systems"); `?activity=console` shows the
console's own trail alone (seed 001's "audit log of audit logs": who viewed logs, which queries
ran, exports, reports, changes); `?activity=all` both.

A search that asks for the console's records by name (`category:audit`, `action:audit.*`,
`event_type:audit`, the category filter's `audit` box) gets them without the toggle: the default
only applies when the search says nothing about them.

The choice narrows what the visibility rule allows, never widens it: it is ANDed to the
condition that is then applied to `Event.objects.visible_to(principal)`. The API takes the same
`activity` (GET /api/v1/audit-logs, the search and export bodies) with another default, "all":
its clients got the console's records before the parameter existed (apps.search.params).
"""
from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Q

CONSOLE_CATEGORY = "audit"
CONSOLE_ACTION_PREFIX = "audit."
PARAM = "activity"

SYSTEMS, CONSOLE, ALL = "systems", "console", "all"
CHOICES = {SYSTEMS: "Events systems sent", CONSOLE: "Console activity", ALL: "Everything"}


def activity_q(activity: str) -> Q:
    """The condition of one choice: systems' events, the console's own, or both (Q())."""
    if activity == CONSOLE:
        return Q(category=CONSOLE_CATEGORY)
    if activity == ALL:
        return Q()
    return ~Q(category=CONSOLE_CATEGORY)


def activity_of(params: Mapping, condition: Q | None = None) -> str:
    """The choice a request makes: its `activity` parameter, else "all" when the search names the
    console's records (`condition`, the search's own condition), else "systems"."""
    raw = params.get(PARAM) if hasattr(params, "get") else None
    if raw in CHOICES:
        return raw
    if condition is not None and names_console_records(condition):
        return ALL
    return SYSTEMS


def names_console_records(condition) -> bool:
    """Whether a search's condition mentions the console's category or its actions.

    Read from the compiled condition, so the query language, the filter bar and `event_type`
    are recognised alike (each compiles `category:audit` to category = 'audit', `action:audit.*`
    to a prefix of `audit.`).
    """
    if isinstance(condition, Q):
        return any(names_console_records(child) for child in condition.children)
    if isinstance(condition, tuple) and len(condition) == 2 and isinstance(condition[0], str):
        name, value = condition
        column, _, lookup = name.partition("__")
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        texts = [item.lower() for item in values if isinstance(item, str) and item]
        if column == "category":
            prefix = lookup.endswith("startswith")
            return any(text == CONSOLE_CATEGORY or (prefix and CONSOLE_CATEGORY.startswith(text)) for text in texts)
        if column == "action":
            return any(text.startswith(CONSOLE_CATEGORY) for text in texts)
    return False


def activity_condition(params: Mapping, condition: Q) -> tuple[str, Q]:
    """(the choice, `condition` narrowed to it): what the viewer and the live view read."""
    activity = activity_of(params, condition)
    part = activity_q(activity)
    return activity, (condition & part) if part else condition
