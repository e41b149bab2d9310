"""Searching the audit log
========================

One query language for the search box, saved queries, alert conditions, report filters,
stream filters and the API's `q`. A query is a list of terms; terms side by side must all
match.

    event_type:authentication.login AND status:failed AND timestamp:>now-24h
    actor = alice@example.com AND time = last 24h
    source_ip NOT IN (10.0.0.0/8, 192.168.0.0/16) AND last 24h

Terms
-----
`field:value` or `field = value`    the field has that value (`actor:bob`, `result = failure`)
`field != value`                    the field has a value, and not that one
`field:>v` `field >= v` `<` `<=`    comparisons, on times, numbers (status_code, seq), severity
`field:a..b`                        a range, both ends included (`created:2026-01-01..2026-01-31`)
`field:a,b,c`                       any of the values (`outcome:failure,denied`)
`field IN (a, b)`                   the same; `field NOT IN (a, b)`: a value, but none of these
`field:(a OR b)`                    a group of values with AND, OR, NOT (`severity:(high OR critical)`)
`field LIKE v`                      starts with v (`action LIKE compute.servers.delete`), or a
                                    pattern with `*` or `%`; `NOT LIKE` for the opposite
word, "a phrase"                    free text: found in the description, actor, resource,
                                    action or metadata, or as an event, trace or request id,
                                    a tag, or an IP address
`last 24h`                          the event happened in the last 24 hours (s, m, h, d, w, mo, y)

Combine terms with AND (or just a space), OR, NOT (or `-` in front of a term) and
parentheses: `(action:iam.* OR category:authz) -actor.type:system`. AND, OR and NOT are
written in capitals; "and", "or" and "not" are searched as words.

Values
------
- `*` is a wildcard anywhere in a value: `action:iam.*` (prefix), `actor:*@example.com`,
  `ip:203.0.113.*`; `field:*` means the field has any value. Quotes turn wildcards off and
  allow spaces: `description:"deleted the bucket"`. `field:""` means the field is empty.
- Times: `now`, `now-15m`, `now-24h`, `now-7d`, `today`, `yesterday`, a date `2026-03-10`
  (the whole day, UTC), a timestamp `2026-03-10T14:30:45Z`; `time = last 7d`; `time = all`.
  `created:>2026-03-10` is after that day; `created:<=2026-03-10` is up to its end.
- IP addresses: an address, a CIDR block `10.0.0.0/8`, or a wildcard `10.1.*`.
- Outcomes take their synonyms: `status:failed` is outcome failure.
- Severity compares in order: `severity:>=high` is high or critical.

Fields
------
Names are case-insensitive, camelCase works (`eventType`), and aliases are accepted:
event_type → action; status, result → outcome; timestamp, time, created → occurred_at;
actor, user → actor id, name or email; actor.email, actor.id, actor.name, actor.type;
ip, source_ip → ip_address; resource → resource id or name; resource.type, resource.id,
resource.name; project, region, category, severity, tags (tag), trace_id, request_id,
session_id, auth_method, method, path, status_code, description, event_id, seq.
`metadata.<path>` and `changes.<path>` reach into the event's JSON; nested keys the event
was sent with stay reachable by their own path: `resource.tags.Environment:production`,
`actor.department:finance`. `FIELDS` lists every field with its kind and aliases.
"""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

from django.db.models import Q
from django.utils import timezone

from apps.events.query.compiler import compile_query
from apps.events.query.errors import QueryError
from apps.events.query.fields import FIELDS, Field, field_get, fields_help
from apps.events.query.nodes import Node
from apps.events.query.normalize import node_text
from apps.events.query.parser import MAX_QUERY_LENGTH, parse

HELP = __doc__


def parse_query(text: str, *, now: datetime | None = None) -> Q:
    """The Q object selecting the events `text` describes; QueryError when it is not a query.

    `now` anchors relative times (`now-24h`, `last 7d`, `today`); it defaults to the current
    time. The empty query matches every event.
    """
    node = parse_tree(text)
    try:
        return compile_query(node, now=_aware(now))
    except QueryError as error:
        error.query = text
        raise


def parse_tree(text: str) -> Node:
    """The checked syntax tree of `text` (every field name known)."""
    try:
        node = parse(text)
        node_text(node)  # resolves every field name, raising QueryError for unknown ones
    except QueryError as error:
        error.query = text if isinstance(text, str) else None
        raise
    return node


def normalize_query(text: str) -> str:
    """The canonical text of a query: `status:failed event_type:Auth.*` → `outcome:failure AND action:auth.*`."""
    return node_text(parse_tree(text))


def validate_query(text: str, *, now: datetime | None = None) -> None:
    """Raise QueryError if `text` is not a valid query (for form and API validation)."""
    parse_query(text, now=now)


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        return now.replace(tzinfo=dt_timezone.utc)
    return now


__all__ = [
    "FIELDS", "HELP", "MAX_QUERY_LENGTH", "Field", "QueryError", "field_get", "fields_help",
    "normalize_query", "parse_query", "parse_tree", "validate_query",
]
