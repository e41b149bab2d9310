"""What people do with alerts and silences, each recorded in the chained log.

    alert_acknowledge(*, alert, request, comment="") -> Alert
    alert_resolve(*, alert, request, comment="") -> Alert
    silence_create(*, rule=None, query="", ends_at, comment="", request) -> Silence
    silence_expire(*, silence, request) -> Silence
    delivery_retry(*, message, request) -> OutboxMessage     # a dead letter, sent again
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.alerts.models import Alert, Silence
from apps.alerts.notify import alert_notify
from apps.events.query import QueryError, parse_query
from apps.rbac.audit_trail import Actor, audit_record


class LifecycleError(ValueError):
    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def _who(request, principal) -> str:
    if request is not None:
        return Actor.from_request(request).id
    if principal is not None:
        return Actor.from_principal(principal).id
    return "system"


def _record(alert: Alert, verb: str, comment: str, request, principal) -> None:
    audit_record(request=request, principal=principal, action=f"audit.alerts.alert.{verb}", resource_type="alert",
                 resource_id=str(alert.pk), resource_name=alert.title[:200],
                 description=f"Alert “{alert.title[:200]}” {verb}d",
                 metadata={"comment": comment, "dedup_key": alert.dedup_key, "rule": alert.rule.name})


@transaction.atomic
def alert_acknowledge(*, alert: Alert, request=None, principal=None, comment: str = "") -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state != Alert.State.OPEN:
        raise LifecycleError("state", f"only an open alert can be acknowledged; this one is {alert.state}")
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at, alert.acknowledged_comment = _who(request, principal), timezone.now(), comment
    alert.save()
    _record(alert, "acknowledge", comment, request, principal)
    if not alert.silenced:
        alert_notify(alert, "acknowledge")
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, request=None, principal=None, comment: str = "") -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        raise LifecycleError("state", "this alert is already resolved")
    alert.state = Alert.State.RESOLVED
    alert.resolved_by, alert.resolved_at, alert.resolved_comment = _who(request, principal), timezone.now(), comment
    alert.save()
    _record(alert, "resolve", comment, request, principal)
    if not alert.silenced:
        alert_notify(alert, "resolve")
    return alert


@transaction.atomic
def silence_create(*, ends_at, rule=None, query: str = "", comment: str = "", request=None, principal=None) -> Silence:
    if rule is None and not query.strip():
        raise LifecycleError("rule", "silence a rule, or alerts raised by events matching a query (or both)")
    if query.strip():
        try:
            parse_query(query)
        except QueryError as error:
            raise LifecycleError("query", f"does not parse: {error}") from None
    if ends_at <= timezone.now():
        raise LifecycleError("ends_at", "the end must be in the future")
    silence = Silence.objects.create(rule=rule, query=query.strip(), ends_at=ends_at, comment=comment,
                                     created_by=_who(request, principal))
    audit_record(request=request, principal=principal, action="audit.alerts.silence.create", resource_type="alert_silence",
                 resource_id=str(silence.pk), resource_name=rule.name if rule else query[:200],
                 description=f"Alerts silenced until {ends_at:%Y-%m-%d %H:%M} UTC",
                 changes={"before": None, "after": {"rule": rule.name if rule else None, "query": silence.query,
                                                    "ends_at": ends_at.isoformat(), "comment": comment}})
    return silence


@transaction.atomic
def silence_expire(*, silence: Silence, request=None, principal=None) -> Silence:
    before = silence.ends_at
    silence.ends_at = timezone.now()
    silence.save(update_fields=["ends_at"])
    audit_record(request=request, principal=principal, action="audit.alerts.silence.expire", resource_type="alert_silence",
                 resource_id=str(silence.pk), description="Silence ended early",
                 changes={"before": {"ends_at": before.isoformat()}, "after": {"ends_at": silence.ends_at.isoformat()}})
    return silence


@transaction.atomic
def delivery_retry(*, message, request=None, principal=None):
    from apps.outbound.outbox import outbox_replay

    outbox_replay(message)
    audit_record(request=request, principal=principal, action="audit.alerts.delivery.replay", resource_type="outbox_message",
                 resource_id=str(message.pk), description="Failed alert notification queued again",
                 metadata={"key": message.key, "last_status": message.last_status})
    return message
