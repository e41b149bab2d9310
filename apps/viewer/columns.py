"""The columns the event viewer can show, and reading a choice of them (`cols=`).

The time column is always first; the rest are picked by the user (the column picker writes
`cols=action,actor,...` into the URL, and the viewer remembers the last choice per user).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    label: str


COLUMNS: tuple[Column, ...] = (
    Column("action", "Action"),
    Column("actor", "Actor"),
    Column("resource", "Resource"),
    Column("outcome", "Outcome"),
    Column("severity", "Severity"),
    Column("ip", "Source IP"),
    Column("project", "Project"),
    Column("category", "Category"),
    Column("auth_method", "Auth method"),
    Column("request", "API method + path"),
    Column("trace_id", "Trace id"),
    Column("region", "Region"),
    Column("tags", "Tags"),
    Column("description", "Description"),
    Column("event_id", "Event id"),
    Column("seq", "Seq"),
)
BY_KEY = {column.key: column for column in COLUMNS}
DEFAULT_COLUMNS = ("action", "actor", "resource", "outcome", "severity", "ip", "project")


def columns_parse(values: Iterable[str]) -> list[str]:
    """Known column keys from `cols` values (repeated or comma lists), in order, without repeats."""
    keys: list[str] = []
    for value in values:
        for key in str(value).split(","):
            key = key.strip().lower()
            if key in BY_KEY and key not in keys:
                keys.append(key)
    return keys


def columns_chosen(param_values: list[str], remembered: Iterable[str] | None) -> list[str]:
    """The columns to show: the URL's, else the user's remembered ones, else the defaults."""
    return columns_parse(param_values) or columns_parse(remembered or ()) or list(DEFAULT_COLUMNS)
