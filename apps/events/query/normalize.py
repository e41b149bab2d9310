"""A query's canonical text: field aliases replaced by field names, groups spread out.

`status:failed event_type:Auth.*` reads back as `outcome:failure AND action:auth.*`: what the
console shows under the search box ("searching for ..."), and the form saved queries and alert
rules are stored in, so that two spellings of one query compare equal.
"""
from __future__ import annotations

import re

from apps.events.query.fields import field_get
from apps.events.query.nodes import And, Compare, Everything, Last, Node, Not, Or, Range, Text, Value

_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE"}
_PLAIN = re.compile(r"[^\s()\"'<>=!,.\-][^\s()\",]*")


def node_text(node: Node) -> str:
    if isinstance(node, Everything):
        return ""
    if isinstance(node, And):
        return " AND ".join(_wrapped(item, Or) for item in node.items)
    if isinstance(node, Or):
        return " OR ".join(_wrapped(item, And) for item in node.items)
    if isinstance(node, Not):
        if node.field is not None:
            strict = _strict_text(node)
            if strict is not None:
                return strict
        return "NOT " + _wrapped(node.item, And, Or)
    if isinstance(node, Text):
        text = _value_text(node.value)
        # A word spelled like an operator was a word where it stood; quoted, it stays one.
        return f'"{text}"' if text.upper() in _KEYWORDS else text
    if isinstance(node, Last):
        return node.value.text.lower()
    if isinstance(node, Compare):
        field = field_get(node.field)
        name = field.label
        if node.op == "like":
            return f"{name} LIKE {_value_text(node.value)}"
        value = node.value
        if isinstance(value, Range):
            return f"{name}:{_value_text(value.low, field)}..{_value_text(value.high, field)}"
        if node.op == "=":
            return f"{name}:{_value_text(value, field)}"
        return f"{name}:{node.op}{_value_text(value, field)}"
    raise TypeError(node)  # pragma: no cover


def _strict_text(node: Not) -> str | None:
    """`!=`, `NOT IN` and `NOT LIKE` read back as written."""
    item = node.item
    field = field_get(node.field)
    if isinstance(item, Compare) and isinstance(item.value, Value):
        if item.op == "like":
            return f"{field.label} NOT LIKE {_value_text(item.value)}"
        if item.op == "=":
            return f"{field.label} != {_value_text(item.value, field)}"
    if isinstance(item, Or) and all(isinstance(part, Compare) and part.op == "=" and isinstance(part.value, Value) for part in item.items):
        values = ", ".join(_value_text(part.value, field) for part in item.items)
        return f"{field.label} NOT IN ({values})"
    return None


def _wrapped(node: Node, *wrap_types) -> str:
    text = node_text(node)
    return f"({text})" if isinstance(node, wrap_types) else text


def _value_text(value: Value, field=None) -> str:
    text = value.text
    if value.form == "last":
        return text.lower()
    if field is not None and not value.quoted:
        if field.choices is not None and "*" not in text:
            text = field.choices.get(text.lower(), text)
        elif field.kind == "action" or field.case == "lower":
            text = text.lower()
        elif field.case == "upper":
            text = text.upper()
    if value.quoted or not _PLAIN.fullmatch(text) or ".." in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
