"""The syntax tree of a query: what the parser builds and the compiler turns into a Q.

Field groups and lists are already spread out here: `severity:(high OR critical)` is
`Or(Compare(severity, high), Compare(severity, critical))`. Every node remembers where it
came from in the query text, so that compile errors can point at it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Value:
    """One value as written: `text` is unquoted and unescaped; `quoted` turns wildcards off."""

    text: str
    quoted: bool
    position: int
    end: int
    # "last" for `last 24h` spans, else "plain".
    form: str = "plain"

    @property
    def has_wildcard(self) -> bool:
        return not self.quoted and "*" in self.text


@dataclass(frozen=True)
class Range:
    """`low..high`, both ends included (a date as an end covers that whole day)."""

    low: Value
    high: Value

    @property
    def position(self) -> int:
        return self.low.position

    @property
    def end(self) -> int:
        return self.high.end


@dataclass(frozen=True)
class FieldName:
    text: str
    position: int
    end: int


@dataclass(frozen=True)
class Compare:
    """`field op value`. op is one of `=`, `>`, `>=`, `<`, `<=`, `like`."""

    field: FieldName
    op: str
    value: Value | Range


@dataclass(frozen=True)
class Text:
    """A bare word or a quoted phrase: free text over the event's descriptive fields."""

    value: Value


@dataclass(frozen=True)
class Last:
    """A bare `last 24h`: the event happened in the last 24 hours."""

    value: Value


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class Not:
    """Negation. With `field` set (from `!=`, `NOT IN`, `NOT LIKE`), only events that have a
    value in that field match: `ip NOT IN (10.0.0.0/8)` does not match events without an IP,
    whereas `-ip:10.0.0.0/8` does."""

    item: object
    field: FieldName | None = None


@dataclass(frozen=True)
class Everything:
    """The empty query."""


Node = Compare | Text | Last | And | Or | Not | Everything
