"""Sigma correlation rules as threshold and sequence rules.

    event_count (gte/gt N, timespan, group-by)   -> threshold: count N within the window
    value_count (gte/gt N of a field)            -> threshold: distinct count of the field
    temporal_ordered (A then B)                  -> sequence: A then B within the window; when A is
                                                    itself an event_count, its count is the sequence's
                                                    (Sigma's "brute force that worked")

Refused with the reason: other conditions than "at least" (lt, lte, eq, neq), unordered temporal
correlations, sums/averages/percentiles, field aliases, group-by fields without a mapping.
"""
from __future__ import annotations

import copy
import re

from sigma.correlations import SigmaCorrelationConditionOperator as Op, SigmaCorrelationRule, SigmaCorrelationType as T
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError as Unsupported
from sigma.rule import SigmaRule

from apps.alerts.sigma.pipeline import SOURCES, UNMAPPED, _to_metadata


def _field(rule: SigmaRule, name: str) -> str:
    key = f"{rule.logsource.product}/{rule.logsource.service}"
    if key not in SOURCES:
        raise Unsupported(f"log source {key} has no mapping onto the event schema")
    mapping, kept = SOURCES[key]
    mapped = mapping.get(name) or _to_metadata(kept)(name)
    if mapped.startswith(UNMAPPED) or mapped.startswith("__"):
        raise Unsupported(f"cannot group by or count '{name}' (no field of its own in the event schema)")
    return mapped


def _base(reference, backend) -> tuple[str, SigmaRule, int | None]:
    """(query, a rule of its log source, count) of a referenced rule; the count when it is itself an event_count."""
    rule = reference.rule
    if isinstance(rule, SigmaCorrelationRule):
        if rule.type != T.EVENT_COUNT:
            raise Unsupported("a temporal correlation can only build on plain rules or event_count correlations")
        query, first, _ = _union(rule, backend)
        return query, first, _at_least(rule)
    return rule_query(rule, backend), rule, None


def rule_query(rule: SigmaRule, backend) -> str:
    """One rule's query. On a copy: the pipeline changes the rule it processes, and a rule used by
    several correlations (or by one and on its own) is converted more than once; and a rule a
    correlation uses is marked by pySigma as not to be output."""
    fresh = copy.deepcopy(rule)
    fresh._output = True
    [query] = backend.convert_rule(fresh)
    return query


def _union(rule: SigmaCorrelationRule, backend) -> tuple[str, SigmaRule, None]:
    parts = [_base(ref, backend) for ref in rule.rules]
    queries = [query for query, _, _ in parts]
    query = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    return query, parts[0][1], None


def _at_least(rule: SigmaCorrelationRule) -> int:
    condition = rule.condition
    if getattr(condition, "op", None) == Op.GTE:
        return int(condition.count)
    if getattr(condition, "op", None) == Op.GT:
        return int(condition.count) + 1
    raise Unsupported("only 'at least' conditions (gte, gt) can be expressed as a threshold")


def _window(rule: SigmaCorrelationRule) -> str:
    spec = rule.timespan.spec
    return spec if re.fullmatch(r"\d+[smhdw]", spec) else f"{rule.timespan.seconds}s"


def correlation_values(rule: SigmaCorrelationRule, backend) -> dict:
    """The rule_save values of a correlation rule (kind, conditions, window, count, groups)."""
    if rule.aliases and getattr(rule.aliases, "aliases", None):
        raise Unsupported("field aliases in correlations are not supported")
    if rule.type in (T.EVENT_COUNT, T.VALUE_COUNT):
        query, first, _ = _union(rule, backend)
        values = {"kind": "threshold", "condition": query, "threshold": _at_least(rule), "window": _window(rule),
                  "group_by": [_field(first, name) for name in rule.group_by or []]}
        if rule.type == T.VALUE_COUNT:
            fieldref = rule.condition.fieldref
            values["distinct_field"] = _field(first, fieldref if isinstance(fieldref, str) else fieldref[0])
        return values
    if rule.type == T.TEMPORAL_ORDERED:
        if len(rule.rules) != 2:
            raise Unsupported("an ordered temporal correlation of exactly two rules can become a sequence")
        (a_query, first, count), (b_query, _, _) = (_base(ref, backend) for ref in rule.rules)
        return {"kind": "sequence", "condition": a_query, "then_condition": b_query, "threshold": count or 1,
                "window": _window(rule), "group_by": [_field(first, name) for name in rule.group_by or []]}
    raise Unsupported(f"{rule.type.name.lower()} correlations cannot be expressed (only event_count, value_count "
                      f"and temporal_ordered)")
