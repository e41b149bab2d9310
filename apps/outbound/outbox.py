"""Queueing messages and delivering the due ones (see the package docstring).

    outbox_enqueue(kind=, target=, payload=, key="", max_attempts=12) -> OutboxMessage
    outbox_deliver_due(limit=50, ids=None) -> list[OutboxMessage]   # what the worker calls
    outbox_replay(message) -> OutboxMessage                           # a dead letter, again
    outbox_list(kind=, key=, state=) -> QuerySet                      # delivery logs, dead letters
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.outbound.backoff import backoff_delay
from apps.outbound.http import DELIVERED, FAILED, RETRY, Result
from apps.outbound.models import OutboxAttempt, OutboxMessage
from apps.outbound.registry import deliverer_get

logger = logging.getLogger(__name__)

# A claimed row is not handed to another worker for this long: enough for a batch of sends
# with their timeouts. A worker that dies mid-batch leaves its rows to be sent again after it
# (at-least-once).
LEASE = timedelta(minutes=5)


def outbox_enqueue(*, kind: str, target: str, payload: dict, key: str = "",
                   max_attempts: int = 12) -> OutboxMessage:
    """Queue one message; call it inside the transaction of the change that causes it."""
    return OutboxMessage.objects.create(kind=kind, target=str(target), key=key[:1000], payload=payload,
                                        max_attempts=max_attempts, next_attempt_at=timezone.now())


def _claim(*, limit: int, ids: list[int] | None) -> list[OutboxMessage]:
    """Take up to `limit` due rows no other worker holds, and lease them.

    SKIP LOCKED lets several workers claim side by side without waiting for each other or
    taking the same row; the lease (next_attempt_at pushed forward) keeps a row ours after the
    short claiming transaction commits, so no transaction stays open while we send.
    """
    now = timezone.now()
    with transaction.atomic():
        qs = OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING)
        qs = qs.filter(pk__in=ids) if ids is not None else qs.filter(next_attempt_at__lte=now)
        rows = list(qs.order_by("next_attempt_at", "id").select_for_update(skip_locked=True)[:limit])
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
        OutboxMessage.objects.bulk_update(rows, ["attempts", "next_attempt_at"])
    return rows


def _send(message: OutboxMessage) -> Result:
    deliver = deliverer_get(message.kind)
    if deliver is None:
        return Result(RETRY, None, f"no deliverer registered for kind {message.kind!r}")
    try:
        return deliver(message)
    except Exception as exc:  # a bug or a broken target must not lose the message
        logger.exception("deliverer %s failed for message %s", message.kind, message.pk)
        return Result(RETRY, None, f"{exc.__class__.__name__}: {exc}"[:500])


def _record(message: OutboxMessage, result: Result) -> None:
    now = timezone.now()
    retry_in = None
    message.last_status = result.status
    message.last_error = "" if result.state == DELIVERED else result.excerpt
    if result.state == DELIVERED:
        message.state = OutboxMessage.State.DELIVERED
        message.delivered_at = now
    elif result.state == FAILED or message.attempts >= message.max_attempts:
        message.state = OutboxMessage.State.FAILED
    else:
        retry_in = backoff_delay(message.attempts, retry_after=result.retry_after)
        message.next_attempt_at = now + timedelta(seconds=retry_in)
    with transaction.atomic():
        message.save(update_fields=["state", "delivered_at", "next_attempt_at", "last_status", "last_error"])
        OutboxAttempt.objects.create(message=message, at=now, result=result.state, status=result.status,
                                     excerpt=result.excerpt, retry_in=retry_in)


def outbox_deliver_due(*, limit: int = 50, ids: list[int] | None = None) -> list[OutboxMessage]:
    """Deliver the messages whose time has come (or exactly `ids`, at once); returns them."""
    done = []
    for message in _claim(limit=limit, ids=ids):
        _record(message, _send(message))
        done.append(message)
    return done


@transaction.atomic
def outbox_replay(message: OutboxMessage) -> OutboxMessage:
    """Send a dead letter (or a delivered message) again, with a fresh attempt budget."""
    message.state = OutboxMessage.State.PENDING
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["state", "attempts", "next_attempt_at"])
    return message


def outbox_list(*, kind: str | None = None, key: str | None = None, state: str | None = None):
    """Messages, newest first, with their attempts prefetched: delivery logs and dead letters."""
    qs = OutboxMessage.objects.all()
    if kind is not None:
        qs = qs.filter(kind=kind)
    if key is not None:
        qs = qs.filter(key=key)
    if state is not None:
        qs = qs.filter(state=state)
    return qs.prefetch_related("attempt_log")
