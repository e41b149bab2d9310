"""Notifications of alerts through their rule's channels, queued in the outbox.

    alert_notify(alert, "trigger" | "acknowledge" | "resolve")   # inside the alert's transaction
    channel_test(channel) -> OutboxMessage                        # the "send test" button
    alert_payload(alert) -> dict                                  # what every channel renders
"""
from __future__ import annotations

from datetime import timezone as dt_timezone
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.alerts.channels import channel_kind
from apps.alerts.models import Alert, Channel
from apps.outbound.http import FAILED, Result
from apps.outbound.models import OutboxMessage
from apps.outbound.outbox import outbox_deliver_due, outbox_enqueue
from apps.outbound.registry import deliverer

KIND = "alerts.channel"


def _iso(value) -> str | None:
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def events_query(rule, group: dict) -> str:
    """The viewer query that lists a rule's events for one group: its condition and the group."""
    condition = f"({rule.condition})" if rule.kind != "sequence" else f"(({rule.condition}) OR ({rule.then_condition}))"
    terms = [condition]
    for name, value in (group or {}).items():
        if name == "chain":
            continue
        terms.append(f"{name}:{_quoted(value)}" if value else f'{name}:""')
    return " AND ".join(terms)


def rule_events_url(rule, group: dict, first_at=None, last_at=None) -> str:
    """`/events/?q=...&start_date=...&end_date=...`: the exact query and the window."""
    params = {"q": events_query(rule, group)}
    if first_at:
        params["start_date"] = _iso(first_at)
    if last_at:
        params["end_date"] = _iso(last_at)
    return reverse("events:list") + "?" + urlencode(params)


def events_url(alert: Alert) -> str:
    return rule_events_url(alert.rule, alert.group, alert.first_event_at, alert.last_event_at)


def alert_payload(alert: Alert) -> dict:
    base = settings.CONSOLE_BASE_URL.rstrip("/")
    return {
        "id": alert.pk, "key": alert.dedup_key, "title": alert.title, "rule": alert.rule.name,
        "rule_id": alert.rule_id, "severity": alert.severity, "state": alert.state, "group": alert.group,
        "count": alert.count, "first_seq": alert.first_seq, "last_seq": alert.last_seq,
        "first_event_at": _iso(alert.first_event_at), "last_event_at": _iso(alert.last_event_at),
        "created_at": _iso(alert.created_at or timezone.now()),
        "url": base + reverse("alerts:detail", args=[alert.pk]), "events_url": base + events_url(alert),
    }


def _channels_of(rule) -> list[Channel]:
    """The rule's channels by name; a name that is a kind (seed 001's `email`, `slack`) means
    every channel of that kind."""
    names = list(rule.channels)
    if not names:
        return []
    return list(Channel.objects.filter(Q(name__in=names) | Q(kind__in=names), enabled=True).order_by("name"))


def alert_notify(alert: Alert, event: str) -> list[OutboxMessage]:
    channels = _channels_of(alert.rule)
    if not channels:
        return []
    payload = {"event": event, "alert": alert_payload(alert), "recipients": list(alert.rule.recipients)}
    queued = []
    for channel in channels:
        module = channel_kind(channel.kind)
        if module is None or event not in module.SENDS:
            continue
        queued.append(outbox_enqueue(kind=KIND, target=str(channel.pk), payload=payload, key=f"alert:{alert.pk}",
                                     max_attempts=12))
    return queued


def channel_test(channel: Channel) -> OutboxMessage:
    """Send a test message now (through the outbox, so it is logged and retried like any other)."""
    now = timezone.now()
    payload = {
        "event": "test", "recipients": [],
        "alert": {"id": None, "key": f"test-{channel.pk}-{int(now.timestamp())}",
                  "title": f"Test message for channel {channel.name}", "rule": "(test)", "rule_id": None,
                  "severity": "info", "state": "open", "group": {}, "count": 0, "first_seq": None, "last_seq": None,
                  "first_event_at": _iso(now), "last_event_at": _iso(now), "created_at": _iso(now),
                  "url": settings.CONSOLE_BASE_URL.rstrip("/") + reverse("alerts:channels"),
                  "events_url": settings.CONSOLE_BASE_URL.rstrip("/") + reverse("events:list")},
    }
    message = outbox_enqueue(kind=KIND, target=str(channel.pk), payload=payload, key=f"channel-test:{channel.pk}",
                             max_attempts=3)
    outbox_deliver_due(ids=[message.pk])
    message.refresh_from_db()
    return message


@deliverer(KIND)
def deliver(message: OutboxMessage) -> Result:
    channel = Channel.objects.filter(pk=int(message.target)).first()
    if channel is None:
        return Result(FAILED, None, "the channel was deleted")
    module = channel_kind(channel.kind)
    if module is None:
        return Result(FAILED, None, f"unknown channel kind {channel.kind!r}")
    return module.deliver(channel, message.payload)
