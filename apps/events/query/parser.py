"""Query text → syntax tree (apps.events.query.nodes), with errors that point at the problem.

The grammar is in grammar.lark; lark builds an LALR(1) parser with a contextual lexer from it
once, at import. Parsing is linear in the length of the query and never recursive, so no
input can exhaust the stack; the tree's depth is checked before it is walked.
"""
from __future__ import annotations

import re
from pathlib import Path

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from apps.events.query.errors import QueryError
from apps.events.query.nodes import (
    And, Compare, Everything, FieldName, Last, Node, Not, Or, Range, Text, Value,
)

MAX_QUERY_LENGTH = 2_000
# Deeper than any query a person writes; it bounds the recursion of the tree walkers and of
# the SQL the query becomes.
MAX_DEPTH = 40

_PARSER = Lark(
    (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    maybe_placeholders=False,
)

# What each terminal is called in an error message.
_TERMINAL_NAMES = {
    "WORD": "a search term",
    "PHRASE": "a quoted phrase",
    "VALUE": "a value",
    "LAST_SPAN": "`last <number><unit>`",
    "COMPARE": "a comparison (>, >=, <, <=)",
    "NOT_IN": "NOT IN",
    "NOT_LIKE": "NOT LIKE",
    "LIKE": "LIKE",
    "IN": "IN",
    "$END": "the end of the query",
}


def parse(text: str) -> Node:
    """The syntax tree of `text`; QueryError when it is not a query."""
    check_text(text)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(text, error) from None
    except LarkError as error:  # pragma: no cover - lark raises UnexpectedInput for bad input
        raise QueryError(f"the query cannot be read: {error}", 0, query=text) from None
    _check_depth(tree, text)
    try:
        return _ToNodes().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, QueryError):
            raise error.orig_exc from None
        raise


def check_text(text) -> None:
    """Refuse what cannot be a query before parsing: not text, too long, or characters
    PostgreSQL cannot hold in a string (NUL, unpaired surrogates)."""
    if not isinstance(text, str):
        raise QueryError("the query must be text", 0)
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_LENGTH:,}",
            MAX_QUERY_LENGTH, end=len(text), query=text,
        )
    nul = text.find("\x00")
    if nul >= 0:
        raise QueryError("the query contains a NUL character", nul, query=text)
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            raise QueryError("the query contains an invalid character (an unpaired surrogate)", index, query=text)


def _check_depth(tree: Tree, text: str) -> None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise QueryError(f"the query is nested more than {MAX_DEPTH} levels deep", 0, end=len(text), query=text)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


# --- syntax errors ---------------------------------------------------------------------------


def _syntax_error(text: str, error: UnexpectedInput) -> QueryError:
    unbalanced = unbalanced_parenthesis(text)
    if unbalanced is not None:
        position, message = unbalanced
        return QueryError(message, position, query=text)
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream
        char = text[position]
        if char in "\"'":
            return QueryError(f"the quoted phrase starting here is never closed (add a closing {char})", position, end=len(text), query=text)
        expected = _expected(error.allowed)
        return QueryError(f"unexpected {_show_char(char)}{expected}", position, query=text)
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = _expected(error.expected)
        if token.type == "$END":
            return QueryError(f"the query ends too early{expected}", len(text), query=text)
        position = token.start_pos or 0
        return QueryError(
            f"unexpected {_show_token(token)}{expected}", position, end=token.end_pos, query=text
        )
    return QueryError("the query cannot be read", getattr(error, "pos_in_stream", 0) or 0, query=text)


def _expected(names) -> str:
    shown = []
    for name in sorted(names or (), key=_expected_order):
        label = _TERMINAL_NAMES.get(name)
        if label is None:
            try:
                label = repr(_PARSER.get_terminal(name).pattern.value).replace("'", "")
                label = f"'{label}'"
            except (KeyError, AttributeError):
                continue
        if label not in shown:
            shown.append(label)
    if not shown:
        return ""
    if len(shown) > 6:
        shown = shown[:6] + ["..."]
    return "; expected " + ", ".join(shown)


def _expected_order(name: str) -> tuple:
    # Values and search terms first: they are what is usually missing.
    first = ("VALUE", "WORD", "PHRASE", "RPAR", "LPAR", "COMPARE")
    return (first.index(name) if name in first else len(first), name)


def _show_char(char: str) -> str:
    return f"character {char!r}" if char.isprintable() else f"character U+{ord(char):04X}"


def _show_token(token: Token) -> str:
    value = str(token.value)
    if len(value) > 40:
        value = value[:37] + "..."
    return f"{value!r}"


def unbalanced_parenthesis(text: str) -> tuple[int, str] | None:
    """The first parenthesis without a partner, outside quoted phrases, and what to say about it.

    Only used to explain a syntax error, so it may follow the lexer's rules for quotes loosely:
    a double quote always opens a phrase, a single quote only where a token can start.
    """
    opened: list[int] = []
    index = 0
    while index < len(text):
        char = text[index]
        starts_token = index == 0 or text[index - 1].isspace() or text[index - 1] in "():=<>!,-"
        if char == '"' or (char == "'" and starts_token):
            index += 1
            while index < len(text) and text[index] != char:
                index += 2 if text[index] == "\\" else 1
        elif char == "(":
            opened.append(index)
        elif char == ")":
            if not opened:
                return index, "unbalanced parentheses: this ')' has no matching '('"
            opened.pop()
        index += 1
    if opened:
        return opened[-1], "unbalanced parentheses: this '(' is never closed"
    return None


# --- tree → nodes ----------------------------------------------------------------------------


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _value(token: Token) -> Value:
    text = str(token)
    if token.type == "PHRASE":
        return Value(_ESCAPE.sub(r"\1", text[1:-1]), True, token.start_pos, token.end_pos)
    if token.type == "LAST_SPAN":
        return Value(" ".join(text.split()), False, token.start_pos, token.end_pos, form="last")
    return Value(text, False, token.start_pos, token.end_pos)


def _field(token: Token) -> FieldName:
    return FieldName(str(token), token.start_pos, token.end_pos)


def _spread(field: FieldName, op: str, values) -> Node:
    """Put `field` in front of every value of a group or list: `f:(a OR -b)` → `f:a OR -f:b`."""
    if isinstance(values, (Value, Range)):
        return Compare(field, op, values)
    if isinstance(values, Or):
        return Or(tuple(_spread(field, op, item) for item in values.items))
    if isinstance(values, And):
        return And(tuple(_spread(field, op, item) for item in values.items))
    if isinstance(values, Not):
        return Not(_spread(field, op, values.item))
    raise TypeError(values)  # pragma: no cover - the grammar allows nothing else


def _any_of(items: list):
    return items[0] if len(items) == 1 else Or(tuple(items))


class _ToNodes(Transformer):
    """Bottom-up: lark's tree for a query → nodes."""

    def start(self, children):
        return children[0] if children else Everything()

    def or_expr(self, children):
        return Or(tuple(children))

    def and_expr(self, children):
        return And(tuple(children))

    group_or = or_expr
    group_and = and_expr

    def negation(self, children):
        return Not(children[0])

    def text(self, children):
        return Text(_value(children[0]))

    def last(self, children):
        return Last(_value(children[0]))

    def value(self, children):
        return _value(children[0])

    group_value = value

    def range(self, children):
        return Range(children[0], children[1])

    def any_of(self, children):
        return _any_of(children)

    def group(self, children):
        return children[0]

    def value_list(self, children):
        return _any_of(children)

    def equal(self, children):
        return _spread(_field(children[0]), "=", children[-1])

    def not_equal(self, children):
        field = _field(children[0])
        return Not(_spread(field, "=", children[-1]), field=field)

    def compare(self, children):
        op = next(str(child) for child in children if isinstance(child, Token) and child.type == "COMPARE")
        return Compare(_field(children[0]), op, children[-1])

    def like(self, children):
        return Compare(_field(children[0]), "like", children[-1])

    def not_like(self, children):
        field = _field(children[0])
        return Not(Compare(field, "like", children[-1]), field=field)

    def in_list(self, children):
        return _spread(_field(children[0]), "=", children[-1])

    def not_in_list(self, children):
        field = _field(children[0])
        return Not(_spread(field, "=", children[-1]), field=field)
