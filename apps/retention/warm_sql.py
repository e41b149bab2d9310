"""A Django Q over events, as a DuckDB condition over archive segments (apps.retention.warm_search).

The query language (apps.events.query.compiler), the list's filters (apps.search) and the
visibility rule (apps.rbac.scoping) all produce one Q; this module spells that same Q for
DuckDB, over a relation with the events table's columns (the segment files' columns plus
`search_text`, built as events 0012 builds it). It knows a closed list of lookups and
expressions and raises Untranslatable for anything else, so a condition it does not know is
never guessed at: the caller then takes the exact path (PostgreSQL over the loaded segments).

Leaves are compared in two-valued logic (`coalesce(leaf, false)`), which is what Django's SQL
means: Django adds `IS NOT NULL` under a negation where a NULL column would otherwise make
`NOT (col = x)` unknown.

DuckDB and PostgreSQL may still differ at the edges (upper-casing of rare letters, the text of
a nested JSON value). warm_search therefore has PostgreSQL confirm every archived row it is
about to show with the original Q; this module decides what is searched, never alone what is shown.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

from django.db.models import Q, Value
from django.db.models.expressions import Col, F, Func
from django.db.models.fields.json import DataContains, KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, Concat
from django.db.models.lookups import IExact, IRegex, IsNull, IStartsWith, Lookup, Regex

from apps.events.models import SearchExpression, SearchText


class Untranslatable(Exception):
    """A part of the condition this module does not spell for DuckDB."""


# The columns a plain lookup may name (the model's attnames; pk is seq).
_COLUMNS = {
    "seq", "event_id", "occurred_at", "received_at", "action", "category", "outcome", "severity", "actor_type",
    "actor_id", "actor_name", "actor_email", "auth_method", "ip_address", "user_agent", "session_id",
    "resource_type", "resource_id", "resource_name", "project", "region", "request_method", "request_path",
    "status_code", "trace_id", "request_id", "tags", "description",
}
_COMPARE = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# Comparisons of these columns' values as text would not order as PostgreSQL's types do (inet).
_UNORDERED = {"ip_address"}
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")

# search_text as events 0012 stores it: lower() of the columns joined by U+001F, metadata as
# jsonb's text (which the segments hold as written by PostgreSQL).
SEARCH_TEXT_SQL = "lower(" + " || chr(31) || ".join([*SearchExpression.COLUMNS, "metadata"]) + ")"


def q_sql(q: Q) -> tuple[str, list]:
    """The DuckDB condition (with `?` parameters) for `q`. Raises Untranslatable."""
    if not q.children:
        return ("false" if q.negated else "true"), []
    parts, params = [], []
    for child in q.children:
        sql, values = _child(child)
        parts.append(sql)
        params += values
    joiner = " AND " if q.connector == Q.AND else " OR "
    sql = "(" + joiner.join(parts) + ")"
    return (f"(NOT {sql})" if q.negated else sql), params


def _child(child) -> tuple[str, list]:
    if isinstance(child, Q):
        return q_sql(child)
    if isinstance(child, tuple):
        sql, params = _lookup(*child)
        return f"coalesce({sql}, false)", params
    if isinstance(child, Lookup):
        sql, params = _expression_lookup(child)
        return f"coalesce({sql}, false)", params
    raise Untranslatable(f"{type(child).__name__} in a condition")


def _like_pattern(text: str, *, prefix: str = "", suffix: str = "") -> str:
    """`text` literal inside a LIKE pattern with backslash as the escape (as Django escapes it)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{prefix}{escaped}{suffix}"


def _lookup(path: str, value) -> tuple[str, list]:
    column, _, lookup = path.partition("__")
    lookup = lookup or "exact"
    if column == "pk":
        column = "seq"
    if column not in _COLUMNS or "__" in lookup:
        raise Untranslatable(path)
    if column == "tags":
        if lookup == "contains" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            if not value:
                return "true", []
            return "list_has_all(" + _TAGS + ", ?::VARCHAR[])", [value]
        if lookup == "exact" and value == []:
            return f"len({_TAGS}) = 0", []
        raise Untranslatable(path)
    if lookup == "in":
        values = list(value)
        if not values:
            return "false", []
        if not all(isinstance(v, (str, int)) for v in values):
            raise Untranslatable(path)
        return f"{column} IN ({', '.join('?' for _ in values)})", values
    if lookup == "isnull":
        return (f"{column} IS NULL" if value else f"{column} IS NOT NULL"), []
    if not isinstance(value, (str, int, datetime)) or isinstance(value, bool):
        raise Untranslatable(path)
    if lookup in _COMPARE:
        if column in _UNORDERED and lookup != "exact":
            raise Untranslatable(path)
        return f"{column} {_COMPARE[lookup]} ?", [value]
    if not isinstance(value, str):
        raise Untranslatable(path)
    if lookup == "iexact":
        return f"upper({column}) = upper(?)", [value]
    if lookup == "startswith":
        return f"{column} LIKE ? ESCAPE '\\'", [_like_pattern(value, suffix="%")]
    if lookup == "istartswith":
        return f"upper({column}) LIKE upper(?) ESCAPE '\\'", [_like_pattern(value, suffix="%")]
    if lookup == "contains":
        return f"{column} LIKE ? ESCAPE '\\'", [_like_pattern(value, prefix="%", suffix="%")]
    if lookup == "icontains":
        return f"upper({column}) LIKE upper(?) ESCAPE '\\'", [_like_pattern(value, prefix="%", suffix="%")]
    if lookup == "regex":
        return f"regexp_matches({column}, ?)", [value]
    if lookup == "iregex":
        return f"regexp_matches({column}, ?, 'i')", [value]
    raise Untranslatable(path)


# The tags column holds the JSON text of the array (segments' spelling).
_TAGS = "from_json(tags, '[\"VARCHAR\"]')"


def _expression_lookup(lookup: Lookup) -> tuple[str, list]:
    from apps.events.query.compiler import LowerLike

    lhs, rhs = lookup.lhs, lookup.rhs
    if isinstance(lookup, LowerLike):
        text = _search_text(lhs)
        return f"{text} LIKE lower(?) ESCAPE '\\'", [_plain(rhs)]
    if isinstance(lookup, IRegex) and isinstance(lhs, SearchText):
        return f"regexp_matches({SEARCH_TEXT_SQL}, ?, 'i')", [_plain(rhs)]
    if isinstance(lookup, DataContains):
        # Only the compiler's use: the value at a key is a list holding one scalar (jsonb's
        # `document @> '[x]'`). Elements are compared as JSON text, so 7 and 7.0 differ where
        # jsonb's numbers are equal: a miss on the fast path, never a row shown wrongly.
        element = rhs.value if isinstance(rhs, Value) else rhs
        if not (isinstance(element, list) and len(element) == 1 and isinstance(element[0], (str, int, float))
                and not isinstance(element[0], bool)):
            raise Untranslatable("a JSON containment other than one scalar in a list")
        path = _json_path(lhs, text=False)
        return (f"(json_type(metadata, {path}) = 'ARRAY' AND list_contains("
                f"json_extract(metadata, {path[:-1]}[*]'), json(?)))"), [json.dumps(element[0])]
    if isinstance(lookup, IsNull):
        path = _json_path(lhs, text=False)
        return (f"json_extract(metadata, {path}) IS NULL" if rhs else f"json_extract(metadata, {path}) IS NOT NULL"), []
    if isinstance(lookup, (IExact, IStartsWith, IRegex, Regex)):
        text = _json_text_or_empty(lhs)
        value = _plain(rhs)
        if isinstance(lookup, IExact):
            return f"upper({text}) = upper(?)", [value]
        if isinstance(lookup, IStartsWith):
            return f"upper({text}) LIKE upper(?) ESCAPE '\\'", [_like_pattern(value, suffix="%")]
        return f"regexp_matches({text}, ?{', ' + repr('i') if isinstance(lookup, IRegex) else ''})", [value]
    raise Untranslatable(type(lookup).__name__)


def _plain(rhs) -> str:
    if isinstance(rhs, Value):
        rhs = rhs.value
    if not isinstance(rhs, str):
        raise Untranslatable("a non-text operand")
    return rhs


def _search_text(expression) -> str:
    if isinstance(expression, SearchText):
        return SEARCH_TEXT_SQL
    if isinstance(expression, Concat):
        # Concat(SearchText(), '') is the compiler's way of keeping an index away; same text.
        sources = expression.get_source_expressions()
        inner = sources[0].get_source_expressions() if sources and isinstance(sources[0], Func) else sources
        if inner and isinstance(inner[0], SearchText) and all(
                isinstance(part, Value) and part.value == "" for part in inner[1:]):
            return SEARCH_TEXT_SQL
    raise Untranslatable(type(expression).__name__)


def _json_keys(expression) -> list[str]:
    """metadata's key path of a (Key)Transform chain over F('metadata')."""
    keys = []
    while isinstance(expression, (KeyTransform, KeyTextTransform)):
        keys.append(expression.key_name)
        expression = expression.lhs
    if not (isinstance(expression, (F, Col)) and getattr(expression, "name", getattr(getattr(expression, "target", None), "name", None)) == "metadata"):
        raise Untranslatable("a JSON path outside metadata")
    keys.reverse()
    if not keys or not all(isinstance(key, str) and _SAFE_KEY.match(key) for key in keys):
        raise Untranslatable("a JSON key DuckDB's path would spell differently")
    return keys


def _json_path(expression, *, text: bool) -> str:
    if isinstance(expression, KeyTextTransform) and not text:
        raise Untranslatable("a text path where a document is meant")
    keys = _json_keys(expression)
    return "'$" + "".join(f'."{key}"' for key in keys) + "'"


def _json_text_or_empty(expression) -> str:
    """Coalesce(KeyTextTransform(...), '') as the compiler builds it: the value's text or ''."""
    if isinstance(expression, Coalesce):
        sources = expression.get_source_expressions()
        if len(sources) == 2 and isinstance(sources[1], Value) and sources[1].value == "" \
                and isinstance(sources[0], KeyTextTransform):
            return f"coalesce(json_extract_string(metadata, {_json_path(sources[0], text=True)}), '')"
    raise Untranslatable(type(expression).__name__)
