"""Importing Sigma rules as alert rules.

    sigma_convert(text, *, source="") -> list[Converted]      # one per rule in the document
    sigma_import(files: list[(name, text)], *, enable=False, principal=None) -> list[Converted]

Correlation rules become threshold and sequence rules (apps.alerts.sigma.correlations). Each
other rule is accepted (it becomes a match rule: its condition in the query language, checked by
the console's own parser, grouped by actor, its level as severity, named and described as in
Sigma, marked `sigma:<id>`) or refused with the reason: a log source without a mapping, a field
or modifier the query language cannot express, a correlation kind not supported. Re-importing a
rule updates the rule of the same Sigma id. Imported rules are disabled unless asked otherwise,
so an import never floods anyone with alerts before someone has read them.
"""
from __future__ import annotations

from dataclasses import dataclass

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from apps.alerts.models import AlertRule
from apps.alerts.rules import RuleInvalid, rule_save
from apps.alerts.sigma.backend import AuditQueryBackend
from apps.alerts.sigma.correlations import correlation_values, rule_query
from apps.alerts.sigma.pipeline import audit_pipeline, source_supported
from apps.events.query import QueryError, validate_query

_LEVELS = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}


@dataclass
class Converted:
    source: str
    title: str
    sigma_id: str = ""
    condition: str = ""
    severity: str = "medium"
    description: str = ""
    reason: str = ""
    rule_id: int | None = None
    # For correlations: kind, then_condition, threshold, window, group_by, distinct_field.
    extra: dict | None = None

    @property
    def accepted(self) -> bool:
        return not self.reason


def sigma_convert(text: str, *, source: str = "") -> list[Converted]:
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except SigmaError as error:
        return [Converted(source=source, title=source, reason=f"not a Sigma rule: {error}")]
    except Exception as error:  # a file that is not YAML at all
        return [Converted(source=source, title=source, reason=f"not a Sigma rule: {error.__class__.__name__}")]
    backend = AuditQueryBackend(processing_pipeline=audit_pipeline())
    results = []
    # Rules a correlation uses without `generate: true` are its parts, not rules of their own.
    def referenced(generate: bool) -> set[int]:
        return {id(ref.rule) for rule in collection.rules
                if isinstance(rule, SigmaCorrelationRule) and bool(rule.generate) == generate
                for ref in (rule.rules or []) if hasattr(ref, "rule")}

    parts = referenced(False) - referenced(True)
    for rule in collection.rules:
        if id(rule) in parts:
            continue
        title = getattr(rule, "title", "") or source
        item = Converted(source=source, title=title, sigma_id=str(getattr(rule, "id", "") or ""))
        results.append(item)
        if isinstance(rule, SigmaCorrelationRule):
            _correlation(rule, backend, item)
            continue
        if not isinstance(rule, SigmaRule):
            item.reason = "not a detection rule"
            continue
        if rule.errors:
            item.reason = "invalid Sigma: " + "; ".join(str(e) for e in rule.errors)[:300]
            continue
        if not source_supported(rule):
            item.reason = f"log source {rule.logsource.product}/{rule.logsource.service} has no mapping onto the event schema"
            continue
        try:
            query = rule_query(rule, backend)
        except (SigmaError, NotImplementedError, ValueError) as error:
            # pySigma's base backend raises NotImplementedError for what our backend does not
            # express (regular expressions, field references, ...): a refusal with its reason.
            item.reason = str(error).split("\n")[0][:300]
            continue
        try:
            validate_query(query)
        except QueryError as error:
            item.reason = f"the converted query does not parse: {error}"
            continue
        item.condition = query
        item.severity = _LEVELS.get(str(rule.level.name if rule.level else "medium").lower(), "medium")
        item.description = (rule.description or "").strip()
    return results


def _correlation(rule, backend, item: Converted) -> None:
    try:
        values = correlation_values(rule, backend)
        validate_query(values["condition"])
        if values.get("then_condition"):
            validate_query(values["then_condition"])
    except (SigmaError, NotImplementedError, ValueError, AttributeError) as error:
        item.reason = str(error).split("\n")[0][:300]
        return
    item.condition = values.pop("condition")
    item.extra = values
    item.severity = _LEVELS.get(str(rule.level.name if rule.level else "medium").lower(), "medium")
    item.description = (rule.description or "").strip()


def sigma_import(files: list[tuple[str, str]], *, enable: bool = False, principal=None, request=None) -> list[Converted]:
    results = []
    for name, text in files:
        for item in sigma_convert(text, source=name):
            results.append(item)
            if not item.accepted:
                continue
            marker = f"sigma:{item.sigma_id}"
            existing = AlertRule.objects.filter(builtin=marker).first() if item.sigma_id else None
            title = item.title[:190]
            if existing is None and AlertRule.objects.filter(name=title).exists():
                title = f"{title[:180]} ({item.sigma_id[:8]})"
            values = {"name": existing.name if existing else title, "description": item.description[:2000],
                      "kind": "match", "severity": item.severity, "condition": item.condition, "group_by": ["actor"],
                      "enabled": existing.enabled if existing else enable, **(item.extra or {})}
            try:
                rule = rule_save(values=values, rule=existing, principal=principal, request=request)
            except RuleInvalid as invalid:
                item.reason = str(invalid)
                continue
            if rule.builtin != marker:
                AlertRule.objects.filter(pk=rule.pk).update(builtin=marker)
            item.rule_id = rule.pk
    return results
