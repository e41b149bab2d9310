"""Opening and updating alerts: one open alert per rule and group (its dedup key).

Called by the evaluator (apps.alerts.state.OpenAlerts) inside its batch transaction, so an alert,
its notifications (queued in the outbox) and the rule's cursor commit together.
"""
from __future__ import annotations

import hashlib

from django.utils import timezone

from apps.alerts.log_reads import event_matches
from apps.alerts.models import Alert, AlertRule, Silence
from apps.alerts.notify import alert_notify
from apps.events.query import QueryError, parse_query


def dedup_key(rule: AlertRule, group: dict) -> str:
    """`rule-<id>` or `rule-<id>:<digest of the group>`: stable, short (PagerDuty allows 255)."""
    if not group:
        return f"rule-{rule.pk}"
    text = "\x1f".join(f"{name}={value}" for name, value in sorted(group.items()))
    return f"rule-{rule.pk}:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _title(rule: AlertRule, group: dict) -> str:
    if not group:
        return rule.name
    return f"{rule.name}: " + ", ".join(f"{name} {value or '(none)'}" for name, value in group.items())


def silence_for(rule: AlertRule, row: dict | None) -> Silence | None:
    """The active silence covering this rule, or the event that raised the alert, if any."""
    now = timezone.now()
    for silence in Silence.objects.filter(ends_at__gt=now).filter(rule__isnull=True) | \
            Silence.objects.filter(ends_at__gt=now, rule=rule):
        if silence.rule_id == rule.pk and not silence.query:
            return silence
        if silence.query and row is not None:
            try:
                q = parse_query(silence.query)
            except QueryError:
                continue
            if (silence.rule_id in (None, rule.pk)) and event_matches(row["seq"], q):
                return silence
    return None


def alert_create(rule: AlertRule, group: dict, *, row: dict | None, first: tuple | None,
                 title: str | None = None) -> Alert:
    """Open the alert of (rule, group) and notify its channels, unless a silence covers it."""
    first_seq, first_at, count = first or (None, None, 0)
    alert = Alert.objects.create(
        rule=rule, dedup_key=dedup_key(rule, group), group=group, title=(title or _title(rule, group))[:500],
        severity=rule.severity, count=count, first_seq=first_seq, first_event_at=first_at,
        last_seq=row["seq"] if row else first_seq, last_event_at=row["occurred_at"] if row else first_at,
        silenced=silence_for(rule, row) is not None,
    )
    if not alert.silenced:
        alert_notify(alert, "trigger")
    return alert


def alert_resolve_auto(alert: Alert, *, comment: str) -> Alert:
    """The rule itself resolves its alert (an absence ends): recorded as resolved by the system."""
    alert.state = Alert.State.RESOLVED
    alert.resolved_by = "system"
    alert.resolved_at = timezone.now()
    alert.resolved_comment = comment
    alert.save()
    if not alert.silenced:
        alert_notify(alert, "resolve")
    return alert
