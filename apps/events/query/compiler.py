"""Syntax tree → one Django Q over events.Event.

Conditions are written so that PostgreSQL can use the indexes of apps.events.models: prefixes
become `startswith` (LIKE 'iam.%', served by the text_pattern_ops index on action), CIDR
blocks and IP wildcards become `ip_address >= first AND ip_address <= last` (served by the
btree index on ip_address), times become plain comparisons on occurred_at, and free text
becomes `search_text LIKE lower('%word%')` on the stored lower-cased text (SearchText), served by
the trigram index event_search_trgm.

At about 440 lines it stays one module: it is one recursive translation whose cases share the
index-shaping helpers above, and every reader of a query's meaning should find it in one place
(the field table is apps.events.query.fields, value parsing apps.events.query.values).
"""
from __future__ import annotations

import re
from datetime import datetime

from django.db.models import F, Func, JSONField, Q, TextField, Value as SQLValue
from django.db.models.fields.json import DataContains, KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, Concat
from django.db.models.lookups import (
    GreaterThan, GreaterThanOrEqual, IExact, IRegex, IStartsWith, IsNull, LessThan, LessThanOrEqual,
    Lookup, Regex,
)

from apps.events.models import SearchText

from apps.events.query.errors import QueryError
from apps.events.query.fields import SEVERITY_ORDER, Field, category_values, field_get
from apps.events.query.nodes import (
    And, Compare, Everything, Last, Node, Not, Or, Range, Text, Value,
)
from apps.events.query.values import (
    TimeSpan, integer, ip_network, is_prefix, json_scalar, last_start, time_span, wildcard_pattern,
    wildcard_regex,
)

# Matching nothing: Django turns an empty IN into "no rows" without asking the database.
NOTHING = Q(pk__in=[])

_INT_RANGES = {"seq": (0, 2**63 - 1), "status_code": (-(2**31), 2**31 - 1)}

# Free text looks for the words anywhere in SearchText (description, actor, resource, action
# and metadata, case-insensitive) ...
# ... and for the whole word as one of these identifiers, so a pasted id finds its event. Each
# has an index, so that the OR of free text is a BitmapOr of index scans rather than a scan.
_ID_COLUMNS = ("event_id", "trace_id", "request_id", "session_id")

# Separates tags when they are matched as one string; it cannot occur in a tag users type.
_TAG_SEPARATOR = "\x1f"

_COMPARISONS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_JSON_COMPARISONS = {">": GreaterThan, ">=": GreaterThanOrEqual, "<": LessThan, "<=": LessThanOrEqual}


def compile_query(node: Node, *, now: datetime) -> Q:
    return _Compiler(now).compile(node)


class _Compiler:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def compile(self, node: Node) -> Q:
        if isinstance(node, Everything):
            return Q()
        if isinstance(node, And):
            parts = [part for part in (self.compile(item) for item in node.items) if part]
            return Q(*parts) if parts else Q()
        if isinstance(node, Or):
            parts = [self.compile(item) for item in node.items]
            if not all(parts):
                return Q()  # one side matches everything, so the whole does
            return Q(*parts, _connector=Q.OR)
        if isinstance(node, Not):
            inner = self.compile(node.item)
            negated = ~inner if inner else NOTHING
            if node.field is not None:
                present = presence(field_get(node.field))
                if present is not None:
                    return present & negated
            return negated
        if isinstance(node, Text):
            return self.text(node.value)
        if isinstance(node, Last):
            return Q(occurred_at__gte=last_start(node.value, now=self.now))
        if isinstance(node, Compare):
            return self.compare(node)
        raise TypeError(node)  # pragma: no cover - the parser makes nothing else

    # --- free text ---------------------------------------------------------------------------

    def text(self, value: Value) -> Q:
        if value.has_wildcard:
            pattern = wildcard_pattern(value.text, value)
            if pattern.strip("*") == "":
                return Q()
            # A wildcard stays inside one column: it does not run over SearchText's separators.
            regex = wildcard_regex(pattern, anchored=False, any_run=f"[^{SearchText.SEPARATOR}]*")
            return Q(IRegex(SearchText(), regex))
        word = value.text
        if word == "":
            return Q()
        parts = [_search_text_q(word)]
        parts.extend(Q(**{column: word}) for column in _ID_COLUMNS)
        parts.append(Q(tags__contains=[word]))
        try:
            parts.append(_ip_condition(ip_network(word, value)))
        except QueryError:
            pass  # not an address: no IP condition
        return Q(*parts, _connector=Q.OR)

    # --- field comparisons -------------------------------------------------------------------

    def compare(self, node: Compare) -> Q:
        field = field_get(node.field)
        value = node.value
        name = node.field.text
        if isinstance(value, Range):
            if field.kind not in ("time", "int", "json"):
                raise QueryError(
                    f"{name} does not take a range (a..b); ranges work on times, numbers and metadata values",
                    value.position, end=value.end,
                )
        elif value.form == "last" and field.kind != "time":
            raise QueryError(f"'{value.text}' is a time span; {name} is not a time field", value.position, end=value.end)
        if node.op in _COMPARISONS and not (field.kind in ("time", "int", "json") or field.name == "severity"):
            raise QueryError(
                f"{name} does not support '{node.op}': comparisons work on time fields (occurred_at, received_at), "
                "numbers (status_code, seq), severity and metadata values",
                node.field.position, end=value.end,
            )
        if node.op == "like" and field.kind in ("time", "int"):
            raise QueryError(f"{name} does not support LIKE: it works on text, IP and metadata fields", node.field.position, end=value.end)
        handler = getattr(self, f"compare_{field.kind}")
        return handler(field, node.op, value, name)

    def compare_action(self, field: Field, op: str, value, name: str) -> Q:
        return self.compare_text(field, op, value, name)

    def compare_text(self, field: Field, op: str, value: Value, name: str) -> Q:
        if op in _COMPARISONS:
            return self._severity_compare(field, op, value)
        pattern, wildcard = _pattern(op, value)
        present = presence(field)
        if wildcard and pattern.strip("*") == "":
            return present if present is not None else Q()
        if not wildcard and pattern == "" and value.quoted:
            return ~present if present is not None else NOTHING
        folded = _fold(field, pattern)
        if field.choices is not None and not wildcard:
            stored = field.choices.get(pattern.strip().lower())
            if stored is None:
                raise QueryError(_choice_error(field, pattern, name), value.position, end=value.end)
            return Q(**{field.columns[0]: stored})
        if field.name == "category" and not wildcard:
            return Q(category__in=category_values(folded))
        return _any_column(field, [_text_condition(field, column, folded, wildcard) for column in field.columns])

    def _severity_compare(self, field: Field, op: str, value: Value) -> Q:
        stored = field.choices.get(value.text.strip().lower())
        if stored is None:
            raise QueryError(_choice_error(field, value.text, field.name), value.position, end=value.end)
        rank = SEVERITY_ORDER.index(stored)
        chosen = {
            ">": SEVERITY_ORDER[rank + 1:], ">=": SEVERITY_ORDER[rank:],
            "<": SEVERITY_ORDER[:rank], "<=": SEVERITY_ORDER[:rank + 1],
        }[op]
        return Q(severity__in=chosen) if chosen else NOTHING

    def compare_time(self, field: Field, op: str, value, name: str) -> Q:
        column = field.columns[0]
        if isinstance(value, Range):
            low = None if _is_star(value.low) else self._time(value.low, name)
            high = None if _is_star(value.high) else self._time(value.high, name)
            condition = Q()
            if low is not None:
                condition &= Q(**{f"{column}__gte": low.start})
            if high is not None:
                condition &= Q(**{f"{column}__lte" if high.instant else f"{column}__lt": high.end})
            return condition
        if value.form == "last":
            if op != "=":
                raise QueryError(f"write {name} = {value.text} (a span cannot be compared with '{op}')", value.position, end=value.end)
            return Q(**{f"{column}__gte": last_start(value, now=self.now)})
        if not value.quoted and value.text.strip().lower() in ("all", "*", "any"):
            if op != "=":
                raise QueryError(f"'{value.text}' cannot be compared with '{op}'", value.position, end=value.end)
            return Q()
        span = self._time(value, name)
        if op == "=":
            if span.instant:
                return Q(**{column: span.start})
            return Q(**{f"{column}__gte": span.start, f"{column}__lt": span.end})
        # `>` a date means after that day, `<=` a date means up to its end (GitHub's rules).
        if op == ">":
            return Q(**{f"{column}__gt": span.start} if span.instant else {f"{column}__gte": span.end})
        if op == ">=":
            return Q(**{f"{column}__gte": span.start})
        if op == "<":
            return Q(**{f"{column}__lt": span.start})
        return Q(**{f"{column}__lte": span.start} if span.instant else {f"{column}__lt": span.end})

    def _time(self, value: Value, name: str) -> TimeSpan:
        if value.form == "last":
            raise QueryError(f"a range takes dates or times, not '{value.text}'", value.position, end=value.end)
        return time_span(value, now=self.now)

    def compare_int(self, field: Field, op: str, value, name: str) -> Q:
        column = field.columns[0]
        low_limit, high_limit = _INT_RANGES[field.name]

        def number(item: Value) -> int:
            return integer(item, name, low=low_limit, high=high_limit)

        if isinstance(value, Range):
            condition = Q()
            if not _is_star(value.low):
                condition &= Q(**{f"{column}__gte": number(value.low)})
            if not _is_star(value.high):
                condition &= Q(**{f"{column}__lte": number(value.high)})
            return condition
        text = value.text.strip().lower()
        if op == "=" and _is_star(value):
            return presence(field)
        if op == "=" and value.quoted and text == "":
            return Q(**{f"{column}__isnull": True})
        if field.name == "status_code" and len(text) == 3 and text[0].isdigit() and text[1:] == "xx":
            if op != "=":
                raise QueryError(f"'{value.text}' cannot be compared with '{op}'", value.position, end=value.end)
            first = int(text[0]) * 100
            return Q(**{f"{column}__gte": first, f"{column}__lte": first + 99})
        if op == "=":
            return Q(**{column: number(value)})
        return Q(**{f"{column}__{_COMPARISONS[op]}": number(value)})

    def compare_ip(self, field: Field, op: str, value: Value, name: str) -> Q:
        text = value.text.replace("%", "*") if op == "like" else value.text
        if op == "like" and not any(sign in text for sign in "*/:") and text.count(".") < 3:
            # LIKE without a wildcard is a prefix: `ip LIKE 10.1` is 10.1.*.
            text = text.rstrip(".") + ".*"
        if text.strip() == "*":
            return presence(field)
        if value.quoted and text == "":
            return Q(ip_address__isnull=True)
        return _ip_condition(ip_network(text, value))

    def compare_array(self, field: Field, op: str, value: Value, name: str) -> Q:
        pattern, wildcard = _pattern(op, value)
        if wildcard and pattern.strip("*") == "":
            return presence(field)
        if not wildcard:
            if pattern == "" and value.quoted:
                return Q(tags=[])
            return Q(tags__contains=[pattern])
        joined = Func(F("tags"), SQLValue(_TAG_SEPARATOR), function="array_to_string", output_field=TextField())
        element = wildcard_regex(pattern, anchored=False, any_run=f"[^{_TAG_SEPARATOR}]*")
        return Q(Regex(joined, f"(^|{_TAG_SEPARATOR}){element}({_TAG_SEPARATOR}|$)"))

    def compare_json(self, field: Field, op: str, value, name: str) -> Q:
        document = _json_document(field)
        present = Q(IsNull(document, False))
        if isinstance(value, Range):
            condition = present
            if not _is_star(value.low):
                condition &= Q(GreaterThanOrEqual(document, _json_value(value.low.text)))
            if not _is_star(value.high):
                condition &= Q(LessThanOrEqual(document, _json_value(value.high.text)))
            return condition
        if op in _JSON_COMPARISONS:
            # jsonb orders numbers as numbers and strings as strings, and never fails on a
            # mix, so `metadata.size:>5` cannot break on an event where size is text.
            return present & Q(_JSON_COMPARISONS[op](document, _json_value(value.text)))
        pattern, wildcard = _pattern(op, value)
        if wildcard and pattern.strip("*") == "":
            return present
        if not wildcard and pattern == "" and value.quoted:
            return ~present
        # The value as text (so 5 finds 5 and "5"), null-safe so that NOT keeps events
        # without the key; or, when the key holds a list, one of its elements.
        text = Coalesce(_json_text(field), SQLValue(""), output_field=TextField())
        if wildcard:
            if is_prefix(pattern):
                return Q(IStartsWith(text, pattern[:-1]))
            return Q(IRegex(text, wildcard_regex(pattern)))
        scalar = json_scalar(pattern)
        elements = [[pattern]] if scalar == pattern else [[pattern], [scalar]]
        return Q(
            Q(IExact(text, pattern)),
            *(present & Q(DataContains(document, SQLValue(element, output_field=JSONField()))) for element in elements),
            _connector=Q.OR,
        )


# --- helpers ---------------------------------------------------------------------------------


def presence(field: Field) -> Q | None:
    """The events that have a value in `field` (None: every event has one)."""
    if field.kind in ("time", "action"):
        return None
    if field.kind in ("ip", "int"):
        return Q(**{f"{field.columns[0]}__isnull": False})
    if field.kind == "array":
        return ~Q(tags=[])
    if field.kind == "json":
        return Q(IsNull(_json_document(field), False))
    return Q(*(~Q(**{column: ""}) for column in field.columns), _connector=Q.OR)


def _pattern(op: str, value: Value) -> tuple[str, bool]:
    """The value as a `*` pattern and whether it holds wildcards.

    LIKE takes SQL's `%` as well as `*`, keeps wildcards even in quotes, and without any
    wildcard means "starts with": `action LIKE compute.servers.delete` finds
    compute.servers.delete and compute.servers.delete.* alike.
    """
    if op == "like":
        text = value.text.replace("%", "*")
        if "*" not in text:
            text += "*"
        return wildcard_pattern(text, value), True
    if value.has_wildcard:
        return wildcard_pattern(value.text, value), True
    return value.text, False


def _fold(field: Field, text: str) -> str:
    if field.kind == "action" or field.case == "lower":
        return text.lower()
    if field.case == "upper":
        return text.upper()
    return text


def _text_condition(field: Field, column: str, text: str, wildcard: bool) -> Q:
    insensitive = field.case == "insensitive"
    if field.contains:
        if not wildcard or (is_prefix(text) and not text.startswith("*")):
            return Q(**{f"{column}__icontains": text.rstrip("*")})
        return Q(**{f"{column}__iregex": wildcard_regex(text, anchored=False)})
    if wildcard:
        if is_prefix(text):
            # startswith keeps the prefix index-friendly: LIKE 'iam.%' on a text_pattern_ops index.
            return Q(**{f"{column}__{'istartswith' if insensitive else 'startswith'}": text[:-1]})
        return Q(**{f"{column}__{'iregex' if insensitive else 'regex'}": wildcard_regex(text)})
    return Q(**{f"{column}__iexact" if insensitive else column: text})


class LowerLike(Lookup):
    """`lhs LIKE lower(rhs)` for an `lhs` stored lower-cased (SearchText): PostgreSQL's ILIKE on a
    UTF-8 database is lower(text) LIKE lower(pattern), so this matches what ILIKE matches without
    lower-casing each row. pg_trgm's index serves it (Django's icontains is UPPER() LIKE UPPER()).
    """

    lookup_name = "lowerlike"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE lower({rhs})", (*lhs_params, *rhs_params)


# A pasted identifier (a path, a resource id) splits into many words for the trigram index, and
# the common ones (`assets`, `img`, `2025`) have posting lists of millions of events that a GIN
# scan reads whole: at 10M events the trigrams of `bkt_7244df96ff/assets/img/2025-12/
# 1715335bc9.webp` took 370 ms to scan, those of its two longest words with digits 40 ms. So
# such a word is looked up in the index by its _INDEX_WORDS longest id-like words (5+ letters
# and digits, with a digit), and then compared whole, on the candidates only, through an
# expression the index does not serve. Containing the whole word implies containing its parts,
# so the events found are the same. Words without two id-like parts are left whole: every
# candidate is then rechecked three times instead of once, which cost more than it saved for a
# common email (1.3 s against 0.9 s to count 10,000 matches), and a phrase with spaces (common
# words, estimated too rare when ANDed: 720 ms against 450 ms).
_INDEX_WORDS = 2
_INDEX_WORD_MIN = 5
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+")


def _search_text_q(word: str) -> Q:
    """`search_text LIKE lower('%word%')` in a form the trigram index serves cheaply (see _INDEX_WORDS)."""
    whole = Q(LowerLike(SearchText(), f"%{_like_escaped(word)}%"))
    if any(char.isspace() for char in word):
        return whole
    words = _ASCII_WORDS.findall(word)
    idlike = [part for part in words if len(part) >= _INDEX_WORD_MIN and any(char.isdigit() for char in part)]
    longest = sorted(idlike, key=len, reverse=True)[:_INDEX_WORDS]
    if len(words) < 3 or len(longest) < _INDEX_WORDS:
        return whole
    unindexed = Concat(SearchText(), SQLValue(""), output_field=TextField())
    return Q(*(Q(LowerLike(SearchText(), f"%{part}%")) for part in longest),
             Q(LowerLike(unindexed, f"%{_like_escaped(word)}%")))


def _like_escaped(text: str) -> str:
    """`text` taken literally inside a LIKE pattern (backslash is LIKE's default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _any_column(field: Field, parts: list[Q]) -> Q:
    return parts[0] if len(parts) == 1 else Q(*parts, _connector=Q.OR)


def _ip_condition(network) -> Q:
    if network.num_addresses == 1:
        return Q(ip_address=str(network.network_address))
    # A range on the column rather than inet's << operator: the btree index on ip_address
    # serves >= and <=, and the two ends of a block are its network and broadcast addresses.
    return Q(ip_address__gte=str(network.network_address), ip_address__lte=str(network.broadcast_address))


def _json_document(field: Field):
    expression = F(field.columns[0])
    for key in field.path:
        expression = KeyTransform(key, expression)
    return expression


def _json_value(text: str) -> SQLValue:
    """A query value as a jsonb operand (a number when it looks like one)."""
    return SQLValue(json_scalar(text), output_field=JSONField())


def _json_text(field: Field):
    expression = F(field.columns[0])
    for key in field.path[:-1]:
        expression = KeyTransform(key, expression)
    return KeyTextTransform(field.path[-1], expression)


def _is_star(value: Value) -> bool:
    return not value.quoted and value.text.strip() == "*"


def _choice_error(field: Field, text: str, name: str) -> str:
    message = f"'{text}' is not a valid {field.name}; use one of {', '.join(field.values)}"
    if field.name == "outcome" and text.strip().isdigit():
        message += f" (for the HTTP status, write status_code:{text.strip()})"
    return message


__all__ = ["NOTHING", "compile_query", "presence"]
