"""Rules as code: seed 001's YAML shape, read and written.

    rules_export(rules=None) -> str
    rules_import(text, *, principal=None) -> {"created": [...], "updated": [...]}   (RulesFileInvalid)

One rule, as seed 001 shows it (every key but name and condition is optional):

    name: "Multiple Failed Login Attempts"
    description: "..."
    enabled: true
    condition: "event_type:authentication.login AND status:failed"
    threshold: {count: 5, window: 5m, group_by: actor.email, distinct: ip}
    notification: {channels: [email, slack], recipients: [security@company.com], severity: high}

The other kinds use their own key instead of `threshold`:
    sequence: {then: "<query>", count: 5, within: 30m, group_by: actor}
    first_seen: {field: ip, group_by: actor, learning: 7d}
    absence: {window: 1h}
and a match rule may have a top-level `group_by`. `working_hours: "08:00-19:00 Mon-Fri Europe/Paris"`
and `watch_chain: true` are kept too. A file holds one rule, a list of rules, or {rules: [...]}.
Exporting what was imported gives back the same document (group_by of one field as a string).
Importing is all or nothing: a rule with the name of an existing one updates it.
"""
from __future__ import annotations

import yaml
from django.db import transaction

from apps.alerts.forms import working_hours_parse, working_hours_text
from apps.alerts.models import AlertRule, Severity
from apps.alerts.rules import RuleInvalid, rule_save
from apps.alerts.spec import rule_errors

_KIND_KEYS = ("threshold", "sequence", "first_seen", "absence")
_SECTION_KEYS = {"threshold": {"count", "window", "group_by", "distinct"},
                 "sequence": {"then", "count", "within", "group_by"},
                 "first_seen": {"field", "group_by", "learning"}, "absence": {"window"},
                 "notification": {"channels", "recipients", "severity"}}
_TOP = {"name", "description", "enabled", "kind", "condition", "group_by", "notification", "working_hours",
        "watch_chain", *_KIND_KEYS}


class RulesFileInvalid(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


def _group_out(names: list[str]):
    return names[0] if len(names) == 1 else list(names)


def _group_in(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValueError("group_by is a field name or a list of field names")


def rule_document(rule: AlertRule) -> dict:
    doc: dict = {"name": rule.name}
    if rule.description:
        doc["description"] = rule.description
    if not rule.enabled:
        doc["enabled"] = False
    doc["condition"] = rule.condition
    if rule.kind == "threshold":
        doc["threshold"] = {"count": rule.threshold, "window": rule.window}
        if rule.group_by:
            doc["threshold"]["group_by"] = _group_out(rule.group_by)
        if rule.distinct_field:
            doc["threshold"]["distinct"] = rule.distinct_field
    elif rule.kind == "sequence":
        doc["sequence"] = {"then": rule.then_condition, "count": rule.threshold, "within": rule.window}
        if rule.group_by:
            doc["sequence"]["group_by"] = _group_out(rule.group_by)
    elif rule.kind == "first_seen":
        doc["first_seen"] = {"field": rule.distinct_field}
        if rule.group_by:
            doc["first_seen"]["group_by"] = _group_out(rule.group_by)
        if rule.learning_period:
            doc["first_seen"]["learning"] = rule.learning_period
    elif rule.kind == "absence":
        doc["absence"] = {"window": rule.window}
    elif rule.group_by:
        doc["group_by"] = _group_out(rule.group_by)
    if rule.working_hours:
        doc["working_hours"] = working_hours_text(rule.working_hours)
    if rule.watch_chain:
        doc["watch_chain"] = True
    notification: dict = {}
    if rule.channels:
        notification["channels"] = list(rule.channels)
    if rule.recipients:
        notification["recipients"] = list(rule.recipients)
    notification["severity"] = rule.severity
    doc["notification"] = notification
    return doc


def rules_export(rules=None) -> str:
    rules = list(rules if rules is not None else AlertRule.objects.order_by("name"))
    docs = [rule_document(rule) for rule in rules]
    return yaml.safe_dump(docs[0] if len(docs) == 1 else docs, sort_keys=False, default_flow_style=None,
                          allow_unicode=True, width=120)


def rule_values(doc) -> dict:
    """The rule_save values of one document; ValueError naming the key when it is malformed."""
    if not isinstance(doc, dict):
        raise ValueError("a rule is a mapping with at least name and condition")
    unknown = sorted(set(doc) - _TOP)
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(map(str, unknown))}")
    kinds = [key for key in _KIND_KEYS if key in doc]
    if len(kinds) > 1:
        raise ValueError(f"one of {', '.join(_KIND_KEYS)} per rule, not {' and '.join(kinds)}")
    kind = kinds[0] if kinds else "match"
    if doc.get("kind", kind) != kind:
        raise ValueError(f"kind: '{doc['kind']}' does not match the '{kind}' section")
    for key in ("name", "condition", "description"):
        if key in doc and not isinstance(doc[key], str):
            raise ValueError(f"{key}: a text")
    notification = doc.get("notification") or {}
    if not isinstance(notification, dict):
        raise ValueError("notification: a mapping with channels, recipients and severity")
    for key, allowed in _SECTION_KEYS.items():
        if isinstance(doc.get(key), dict) and set(doc[key]) - allowed:
            extra = ", ".join(sorted(map(str, set(doc[key]) - allowed)))
            raise ValueError(f"{key}: unknown key(s) {extra}; it takes {', '.join(sorted(allowed))}")
    severity = notification.get("severity", "medium")
    if severity not in Severity.values:
        raise ValueError(f"notification.severity: one of {', '.join(Severity.values)}")
    values = {
        "name": doc.get("name", ""), "description": doc.get("description", ""), "kind": kind,
        "severity": severity, "enabled": bool(doc.get("enabled", True)), "condition": doc.get("condition", ""),
        "then_condition": "", "group_by": _group_in(doc.get("group_by")), "window": "", "threshold": 1,
        "distinct_field": "", "learning_period": "", "watch_chain": bool(doc.get("watch_chain", False)),
        "channels": [str(c) for c in notification.get("channels") or []],
        "recipients": [str(r) for r in notification.get("recipients") or []],
        "working_hours": working_hours_parse(str(doc.get("working_hours") or "")),
    }
    section = doc.get(kind) if kind != "match" else None
    if kind != "match" and not isinstance(section, dict):
        raise ValueError(f"{kind}: a mapping")
    if kind == "threshold":
        values.update(threshold=section.get("count", 1), window=str(section.get("window", "")),
                      group_by=_group_in(section.get("group_by")), distinct_field=str(section.get("distinct", "")))
    elif kind == "sequence":
        values.update(then_condition=str(section.get("then", "")), threshold=section.get("count", 1),
                      window=str(section.get("within", "")), group_by=_group_in(section.get("group_by")))
    elif kind == "first_seen":
        values.update(distinct_field=str(section.get("field", "")), group_by=_group_in(section.get("group_by")),
                      learning_period=str(section.get("learning", "")))
    elif kind == "absence":
        values.update(window=str(section.get("window", "")))
    return values


_SECTION = {"threshold": "threshold.count", "window": "{kind}.window", "group_by": "{kind}.group_by",
            "then_condition": "sequence.then", "distinct_field": "{kind}.field", "learning_period": "first_seen.learning"}


def rules_import(text: str, *, principal=None) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RulesFileInvalid([f"not YAML: {error}"]) from None
    if isinstance(data, dict) and "rules" in data and set(data) == {"rules"}:
        data = data["rules"]
    docs = data if isinstance(data, list) else [data]
    errors, parsed = [], []
    for index, doc in enumerate(docs):
        label = f"rule {index + 1}" + (f" ({doc.get('name')})" if isinstance(doc, dict) and doc.get("name") else "")
        try:
            values = rule_values(doc)
        except ValueError as error:
            errors.append(f"{label}: {error}")
            continue
        for field, message in rule_errors(values).items():
            where = _SECTION.get(field, field).format(kind=values["kind"])
            errors.append(f"{label}: {where}: {message}")
        parsed.append(values)
    if errors:
        raise RulesFileInvalid(errors)
    result = {"created": [], "updated": []}
    try:
        with transaction.atomic():
            for values in parsed:
                existing = AlertRule.objects.filter(name=values["name"]).first()
                rule_save(values=values, rule=existing, principal=principal)
                result["updated" if existing else "created"].append(values["name"])
    except RuleInvalid as invalid:
        raise RulesFileInvalid([str(invalid)]) from None
    return result
