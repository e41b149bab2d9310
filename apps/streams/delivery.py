"""Delivery of the log to a destination: at least once, in seq order, from its cursor.

One round (`destination_deliver`) reads the events after the cursor (as the owner, matching
the filter), renders them in the destination's format, cuts a batch at the kind's and the
destination's limits, and sends it. Then, in one transaction:

- the cursor moves past the events the receiver acknowledged (2xx, HEC ack, per-item `_bulk`
  status, PubAck), never further;
- events refused for good (other 4xx, per-item mapping errors) become dead letters, kept with
  the response and replayable; the cursor moves past them so they do not block the stream;
- a retryable failure (timeouts, 408, 429 with Retry-After, 5xx, per-item 429) sends nothing
  further and waits an exponential backoff with full jitter (apps.outbound.backoff), never
  shorter than Retry-After; after `failing_after` consecutive failures the destination is
  marked failing, which is recorded in the chained log with severity high (for alerting).

A round never holds a transaction or a row lock while it talks to the receiver; a PostgreSQL
advisory lock per destination keeps two workers from sending the same batch at once. A worker
that dies mid-round has moved no cursor: the next round sends the batch again (at least once;
receivers de-duplicate by event_id, which every event carries with its seq).
"""
from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.search.formats import FORMATS
from apps.outbound.backoff import backoff_delay
from apps.rbac.audit_trail import Actor, audit_record
from apps.streams.destinations import KINDS
from apps.streams.destinations.base import DELIVERED, FAILED, RETRY, Batch, Outcome
from apps.streams.models import DeadLetter, DeliveryBatch, Destination
from apps.streams.reads import stream_events_after

_LOCK_BASE = 0x5754_0000  # advisory lock keys of streams: this base + the destination's id


def render_records(destination: Destination, events) -> list[str]:
    fmt = FORMATS.get(destination.format)
    render = fmt.render if fmt is not None and fmt.render is not None else FORMATS["jsonl"].render
    return [render(event) for event in events]


def batch_cut(destination: Destination, events, records) -> Batch:
    """The longest prefix within the destination's and its kind's limits (at least one event)."""
    kind = KINDS[destination.kind]
    max_events = max(1, min(destination.batch_max_events, kind.max_events))
    max_bytes = max(1, min(destination.batch_max_bytes, kind.max_bytes))
    size = 0
    for count, record in enumerate(records[:max_events]):
        size += len(record.encode()) + 1
        if size > max_bytes and count:
            return Batch(events[:count], records[:count])
    return Batch(events[:max_events], records[:max_events])


def destination_send(destination: Destination, batch: Batch) -> Outcome:
    try:
        return KINDS[destination.kind].send(destination, batch)
    except Exception as error:  # a bug or a dead receiver: retried, never lost
        return Outcome(RETRY, detail=f"{type(error).__name__}: {error}"[:500])


def _locked(destination_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_BASE + destination_id])
        return cursor.fetchone()[0]


def _unlock(destination_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_BASE + destination_id])


def destination_deliver(destination_id: int, *, now=None) -> str:
    """One round for one destination: "idle", "waiting", "busy" or the batch's result."""
    if not _locked(destination_id):
        return "busy"
    try:
        destination = Destination.objects.select_related("owner").get(pk=destination_id)
        now = now or timezone.now()
        if destination.paused or not destination.enabled:
            return "waiting"
        if destination.next_attempt_at and destination.next_attempt_at > now:
            return "waiting"
        limit = min(destination.batch_max_events, KINDS[destination.kind].max_events)
        events = stream_events_after(destination, after_seq=destination.cursor_seq, limit=limit)
        if not events:
            return "idle"
        batch = batch_cut(destination, events, render_records(destination, events))
        outcome = destination_send(destination, batch)
        return _record(destination, batch, outcome, full=len(batch.events) >= limit)
    finally:
        _unlock(destination_id)


@transaction.atomic
def _record(destination: Destination, batch: Batch, outcome: Outcome, *, full: bool) -> str:
    now = timezone.now()
    events = batch.events
    acked = max(0, min(outcome.acked, len(events)))
    result = (DeliveryBatch.Result.DELIVERED if outcome.state == DELIVERED and not outcome.dead
              else DeliveryBatch.Result.FAILED if outcome.state == FAILED
              else DeliveryBatch.Result.PARTIAL if acked else DeliveryBatch.Result.RETRY)
    DeliveryBatch.objects.create(destination=destination, first_seq=events[0].seq, last_seq=events[-1].seq,
                                 events=len(events), acknowledged=acked, result=result,
                                 status_code=outcome.status, detail=outcome.detail[:2000])
    DeadLetter.objects.bulk_create([
        DeadLetter(destination=destination, seq=events[i].seq, event_id=events[i].event_id, status_code=status,
                   response=(response or "")[:4000])
        for i, status, response in outcome.dead if i < acked
    ])
    changes: dict = {"updated_at": now}
    if acked:
        # Only from the cursor this round started at: a replay set meanwhile wins.
        moved = Destination.objects.filter(pk=destination.pk, cursor_seq=destination.cursor_seq).update(
            cursor_seq=events[acked - 1].seq, delivered_total=F("delivered_total") + acked - len(outcome.dead))
        if moved:
            changes["last_success_at"] = now
    if outcome.state == DELIVERED and not outcome.dead:
        changes.update(consecutive_failures=0, failing=False, next_attempt_at=None)
        interval = int(destination.config.get("interval") or 0)
        if interval and not full:
            changes["next_attempt_at"] = now + timedelta(seconds=interval)
    else:
        failures = destination.consecutive_failures + 1
        changes.update(consecutive_failures=failures, last_error=_error_text(outcome), last_error_at=now)
        if outcome.state == RETRY:
            changes["next_attempt_at"] = now + timedelta(seconds=backoff_delay(
                failures, retry_after=outcome.retry_after, base=settings.STREAMS_BACKOFF_BASE_SECONDS,
                cap=settings.STREAMS_BACKOFF_CAP_SECONDS))
        if failures >= destination.failing_after and not destination.failing:
            changes["failing"] = True
            audit_record(actor=Actor.system("streams"), action="audit.streams.failing", outcome="failure",
                         severity="high", resource_type="stream_destination", resource_id=str(destination.pk),
                         resource_name=destination.name,
                         description=f"Stream destination {destination.name} is failing: {failures} consecutive "
                                     f"failures; last: {_error_text(outcome)[:200]}",
                         metadata={"failures": failures, "cursor_seq": destination.cursor_seq,
                                   "status": outcome.status})
    Destination.objects.filter(pk=destination.pk).update(**changes)
    return result


def _error_text(outcome: Outcome) -> str:
    status = f"HTTP {outcome.status}: " if outcome.status else ""
    return (status + (outcome.detail or outcome.state))[:2000]


def streams_deliver_due(*, budget_seconds: float = 20.0, idle_sleep: float = 0.25) -> int:
    """Rounds for every active destination until the budget is spent: batches back to back while
    a destination has events, a short sleep when none has. The worker runs this every five
    seconds with a budget just under that, so a new event waits at most `idle_sleep` plus one
    batch, not for the next tick."""
    deadline = time.monotonic() + budget_seconds
    sent = 0
    while time.monotonic() < deadline:
        active = list(Destination.objects.filter(enabled=True, paused=False).values_list("pk", flat=True))
        if not active:
            return sent  # nothing to stream: the worker is free for other jobs at once
        progressed = False
        for pk in active:
            result = destination_deliver(pk)
            if result in (DeliveryBatch.Result.DELIVERED, DeliveryBatch.Result.PARTIAL):
                sent += 1
                progressed = True
        if not progressed:
            time.sleep(idle_sleep)
    return sent
