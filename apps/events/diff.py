"""A mutation's `changes` as a readable diff: one row per leaf path that differs or stays.

Accepted shapes: DESIGN.md's `{"before": {...}, "after": {...}}`, and the per-field forms
clients also send: `{"state": {"from": "running", "to": "stopped"}}` (or old/new,
before/after) and `{"state": ["running", "stopped"]}`. Nested objects are walked to their
leaves (`spec.cpu`), lists by index (`members[1]`), so adding one member is one added row,
not a changed list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

_MISSING = object()
_PAIRS = (("before", "after"), ("from", "to"), ("old", "new"), ("old_value", "new_value"))
# Deeper than this, a value is shown whole rather than walked (a hostile event cannot make the
# page recurse without end; ingest already caps depth).
_MAX_DEPTH = 12


@dataclass(frozen=True)
class DiffRow:
    path: str
    before: str
    after: str
    kind: str  # added, removed, changed, same
    depth: int

    @property
    def has_before(self) -> bool:
        return self.kind != "added"

    @property
    def has_after(self) -> bool:
        return self.kind != "removed"


@dataclass(frozen=True)
class Diff:
    rows: list[DiffRow]

    @property
    def counts(self) -> dict[str, int]:
        counts = {"added": 0, "removed": 0, "changed": 0, "same": 0}
        for row in self.rows:
            counts[row.kind] += 1
        return counts

    @property
    def changed_count(self) -> int:
        return sum(1 for row in self.rows if row.kind != "same")

    def __bool__(self) -> bool:
        return bool(self.rows)


def changes_diff(changes) -> Diff:
    """The rows of the diff of an event's `changes` (empty when it holds no before/after)."""
    before, after = _sides(changes)
    if before is _MISSING and after is _MISSING:
        return Diff([])
    old = dict(_leaves(None if before is _MISSING else before))
    new = dict(_leaves(None if after is _MISSING else after))
    rows = []
    for path in sorted(set(old) | set(new), key=_sort_key):
        o, n = old.get(path, _MISSING), new.get(path, _MISSING)
        if o is _MISSING:
            kind = "added"
        elif n is _MISSING:
            kind = "removed"
        elif o == n and type(o) is type(n):
            kind = "same"
        else:
            kind = "changed"
        rows.append(DiffRow(path=path or "(value)", before=_show(o), after=_show(n), kind=kind,
                            depth=path.count(".") + path.count("[")))
    return Diff(rows)


def _sides(changes):
    if not isinstance(changes, dict) or not changes:
        return _MISSING, _MISSING
    if "before" in changes or "after" in changes:
        return changes.get("before"), changes.get("after")
    before, after = {}, {}
    for key, value in changes.items():
        pair = _pair(value)
        if pair is None:
            return _MISSING, _MISSING  # not a per-field diff: the raw JSON shows it
        before[key], after[key] = pair
    return before, after


def _pair(value):
    if isinstance(value, dict):
        for old, new in _PAIRS:
            if set(value) <= {old, new} and value:
                return value.get(old, _MISSING_VALUE), value.get(new, _MISSING_VALUE)
        return None
    if isinstance(value, list) and len(value) == 2:
        return value[0], value[1]
    return None


# A side a per-field change leaves out (`{"to": "x"}`): the field did not exist before.
_MISSING_VALUE = None


def _leaves(value, path: str = "", depth: int = 0):
    if not path and value in (None, {}, []):
        return  # nothing on this side (a creation's before, a deletion's after)
    if depth < _MAX_DEPTH and isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif depth < _MAX_DEPTH and isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]", depth + 1)
    elif value is not None or path:
        yield path, value


def json_leaves(value) -> list[tuple[str, str]]:
    """A JSON document as (path, value) rows: `resource.tags.Environment` → `production`."""
    return [(path, _show(item)) for path, item in _leaves(value)]


def _show(value) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _sort_key(path: str):
    # members[2] before members[10]: indices compare as numbers.
    parts = []
    for part in path.replace("]", "").replace("[", ".[").split("."):
        parts.append((1, int(part[1:]), "") if part.startswith("[") and part[1:].isdigit() else (0, 0, part))
    return parts
