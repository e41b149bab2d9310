"""Changes to alert rules, each recorded in the chained log in the same transaction.

    rule_save(*, values, rule=None, request=None, principal=None) -> AlertRule
    rule_delete(*, rule, request=None, principal=None)
    rule_state(rule) -> dict        # what the audit trail's before/after show

`values` are checked first (apps.alerts.spec.rule_errors); RuleInvalid carries the errors by
field. A new rule starts at the chain head: it watches what arrives from now on (the backtest
shows what it would have found in the past).
"""
from __future__ import annotations

from django.db import transaction

from apps.alerts.models import AlertRule
from apps.alerts.spec import rule_errors
from apps.events.models import ChainHead
from apps.rbac.audit_trail import audit_record

EDITABLE = ("name", "description", "kind", "severity", "enabled", "condition", "then_condition", "group_by",
            "window", "threshold", "distinct_field", "learning_period", "working_hours", "watch_chain",
            "channels", "recipients")


class RuleInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


def rule_state(rule: AlertRule) -> dict:
    return {name: getattr(rule, name) for name in EDITABLE}


def _head() -> int:
    return ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0


@transaction.atomic
def rule_save(*, values: dict, rule: AlertRule | None = None, request=None, principal=None,
              owner=None) -> AlertRule:
    errors = rule_errors(values)
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = "a rule needs a name"
    elif AlertRule.objects.filter(name=name).exclude(pk=rule.pk if rule else None).exists():
        errors["name"] = f"a rule named '{name}' already exists"
    if errors:
        raise RuleInvalid(errors)
    before = rule_state(rule) if rule else None
    if rule is None:
        rule = AlertRule(owner=owner, last_seq=_head())
    changed_meaning = before is not None and any(
        before[key] != values.get(key, before[key]) for key in ("kind", "condition", "then_condition", "group_by",
                                                                "window", "distinct_field"))
    for key in EDITABLE:
        if key in values:
            setattr(rule, key, values[key])
    rule.name = name
    if changed_meaning:
        # The window and first-seen state meant something else; start afresh from the head.
        rule.last_seq, rule.watermark, rule.learning_until = _head(), None, None
        from apps.alerts.models import SeenValue, WindowHit

        WindowHit.objects.filter(rule=rule).delete()
        SeenValue.objects.filter(rule=rule).delete()
    rule.save()
    audit_record(request=request, principal=principal, action="audit.alerts." + ("rule.update" if before else "rule.create"),
                 resource_type="alert_rule", resource_id=str(rule.pk), resource_name=rule.name,
                 description=f"Alert rule “{rule.name}” {'changed' if before else 'created'}",
                 changes={"before": before, "after": rule_state(rule)})
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule, request=None, principal=None) -> None:
    audit_record(request=request, principal=principal, action="audit.alerts.rule.delete", resource_type="alert_rule",
                 resource_id=str(rule.pk), resource_name=rule.name, description=f"Alert rule “{rule.name}” deleted",
                 changes={"before": rule_state(rule), "after": None})
    rule.delete()
