"""Reads for the alert pages. Alerts, rules, silences and channels are not events: who may see
them is decided by the alerts permissions (rbac.view_alerts); the events behind an alert are
reached through the viewer, which applies the reader's visibility."""
from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from apps.alerts.models import Alert, AlertRule, Channel, Silence
from apps.outbound.outbox import outbox_list

STATES = ("open", "acknowledged", "resolved")


def alert_list(*, state: str = "", severity: str = "", rule_id: int | None = None, limit: int = 200):
    qs = Alert.objects.select_related("rule")
    if state == "active":
        qs = qs.exclude(state=Alert.State.RESOLVED)
    elif state in STATES:
        qs = qs.filter(state=state)
    if severity:
        qs = qs.filter(severity=severity)
    if rule_id:
        qs = qs.filter(rule_id=rule_id)
    return qs.order_by("-updated_at", "-id")[:limit]


def alert_counts() -> dict[str, int]:
    rows = Alert.objects.values("state").annotate(n=Count("id"))
    counts = {state: 0 for state in STATES}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def alert_get(*, pk: int) -> Alert | None:
    return Alert.objects.select_related("rule").filter(pk=pk).first()


def alert_deliveries(alert: Alert):
    """The alert's delivery log: its outbox messages with their attempts, newest first."""
    messages = list(outbox_list(kind="alerts.channel", key=f"alert:{alert.pk}"))
    names = dict(Channel.objects.filter(pk__in=[int(m.target) for m in messages]).values_list("pk", "name"))
    for message in messages:
        message.channel_name = names.get(int(message.target), "(deleted channel)")
    return messages


def rule_list():
    return AlertRule.objects.annotate(
        open_alerts=Count("alerts", filter=~Q(alerts__state=Alert.State.RESOLVED))).order_by("name")


def rule_get(*, pk: int) -> AlertRule | None:
    return AlertRule.objects.filter(pk=pk).first()


def silence_list(*, active_only: bool = False):
    qs = Silence.objects.select_related("rule")
    if active_only:
        qs = qs.filter(ends_at__gt=timezone.now())
    return qs.order_by("-ends_at")


def channel_list():
    return Channel.objects.order_by("name")


def open_alerts_summary(limit: int = 5) -> dict:
    """For the dashboard's security panel: open alerts by severity and the newest few."""
    active = Alert.objects.exclude(state=Alert.State.RESOLVED).filter(silenced=False)
    by_severity = dict(active.values_list("severity").annotate(n=Count("id")))
    return {"total": sum(by_severity.values()), "by_severity": by_severity,
            "newest": list(active.select_related("rule").order_by("-updated_at")[:limit])}


def dead_letters(limit: int = 50):
    """Alert notifications given up on (the outbox's dead letters), newest first, with their channel."""
    messages = list(outbox_list(kind="alerts.channel", state="failed")[:limit])
    names = dict(Channel.objects.filter(pk__in=[int(m.target) for m in messages]).values_list("pk", "name"))
    for message in messages:
        message.channel_name = names.get(int(message.target), "(deleted channel)")
        key = message.key.split(":", 1)
        message.alert_id = int(key[1]) if key[0] == "alert" and key[1].isdigit() else None
    return messages
