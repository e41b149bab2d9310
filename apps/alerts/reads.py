"""Reads for the alert pages.

Rules, silences and channels are configuration: the alerts permissions (rbac.view_alerts)
decide who reads them. An alert, though, tells of events (its title names the actor, the
address): a reader sees an alert only when they may see the event that last updated it, so a
Security Analyst limited to some projects sees the alerts of those projects; alerts raised by
no event (absence, a failed chain verification) are for those who see the whole log. Outside
that scope an alert is 404, like an event. The events behind an alert are reached through the
viewer, which applies the same rule.
"""
from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from apps.rbac.roles import VIEW_ALERTS
from apps.alerts.models import Alert, AlertRule, Channel, Silence
from apps.outbound.outbox import outbox_list

STATES = ("open", "acknowledged", "resolved")


def _visible(qs, user):
    from apps.events.models import Event
    from apps.rbac.scoping import event_scope

    if not event_scope(user):  # an empty Q: this reader sees every event
        return qs
    return qs.filter(last_seq__in=Event.objects.visible_to(user).values("seq"))


def alert_list(*, user, state: str = "", severity: str = "", rule_id: int | None = None, limit: int = 200):
    qs = _visible(Alert.objects.select_related("rule"), user)
    if state == "active":
        qs = qs.exclude(state=Alert.State.RESOLVED)
    elif state in STATES:
        qs = qs.filter(state=state)
    if severity:
        qs = qs.filter(severity=severity)
    if rule_id:
        qs = qs.filter(rule_id=rule_id)
    return qs.order_by("-updated_at", "-id")[:limit]


def alert_counts(*, user) -> dict[str, int]:
    rows = _visible(Alert.objects.all(), user).values("state").annotate(n=Count("id"))
    counts = {state: 0 for state in STATES}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def alert_get(*, user, pk: int) -> Alert | None:
    return _visible(Alert.objects.select_related("rule"), user).filter(pk=pk).first()


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


def open_alerts_summary(*, user, limit: int = 5) -> dict:
    """For the dashboard's security panel: open alerts by severity and the newest few."""
    active = _visible(Alert.objects.all(), user).exclude(state=Alert.State.RESOLVED).filter(silenced=False)
    by_severity = dict(active.values_list("severity").annotate(n=Count("id")))
    return {"total": sum(by_severity.values()), "by_severity": by_severity,
            "newest": list(active.select_related("rule").order_by("-updated_at")[:limit])}


def dead_letters(*, user, limit: int = 50):
    """Alert notifications given up on (the outbox's dead letters), newest first, with their channel."""
    visible = {str(pk) for pk in _visible(Alert.objects.all(), user).values_list("pk", flat=True)}
    messages = [m for m in outbox_list(kind="alerts.channel", state="failed")[:limit]
                if not m.key.startswith("alert:") or m.key.split(":", 1)[1] in visible]
    names = dict(Channel.objects.filter(pk__in=[int(m.target) for m in messages]).values_list("pk", "name"))
    for message in messages:
        message.channel_name = names.get(int(message.target), "(deleted channel)")
        key = message.key.split(":", 1)
        message.alert_id = int(key[1]) if key[0] == "alert" and key[1].isdigit() else None
    return messages


def dashboard_panel(*, user) -> dict | None:
    """The dashboard's open-alerts panel (settings.DASHBOARD_PANELS), for those who may read alerts."""
    if not user.has_perm(VIEW_ALERTS):
        return None
    return {"template": "alerts/_dashboard_panel.html", "alerts_summary": open_alerts_summary(user=user)}
