"""Changes to stream destinations made through the console; each is recorded in the chained log
in the same transaction (category audit, actions audit.streams.<verb>). Secrets never are."""
from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.events.models import Event
from apps.rbac.audit_trail import audit_record
from apps.streams.delivery import destination_send, batch_cut, render_records
from apps.streams.destinations.base import DELIVERED, Batch, Outcome
from apps.streams.models import DeadLetter, Destination
from apps.streams.reads import stream_events_by_seq, stream_seq_at

_SNAPSHOT = ("name", "kind", "format", "query", "config", "batch_max_events", "batch_max_bytes", "failing_after",
             "enabled", "paused", "cursor_seq")


def _snapshot(destination: Destination | None) -> dict | None:
    if destination is None:
        return None
    return {**{name: getattr(destination, name) for name in _SNAPSHOT}, "secret_set": bool(destination.secret)}


def _record(request, destination: Destination, verb: str, *, before=None, after=None, **metadata) -> None:
    audit_record(request=request, action=f"audit.streams.{verb}", resource_type="stream_destination",
                 resource_id=str(destination.pk), resource_name=destination.name,
                 description=f"{request.user.get_username()} {verb.replace('_', ' ')} stream destination "
                             f"{destination.name}",
                 changes={"before": before, "after": after} if (before or after) else None,
                 metadata=metadata or None)


@transaction.atomic
def destination_save(*, request, destination: Destination | None, data: dict, start: str = "now") -> Destination:
    """Create or update from cleaned form data. A new destination starts at the head of the log
    (`start="now"`) or from the beginning (`"beginning"`); an empty secret keeps the stored one."""
    before = _snapshot(destination)
    creating = destination is None
    destination = destination or Destination(owner=request.user)
    for name in ("name", "kind", "format", "query", "config", "batch_max_events", "batch_max_bytes", "failing_after",
                 "enabled"):
        setattr(destination, name, data[name])
    if data.get("secret"):
        destination.secret = data["secret"]
    if creating:
        last = Event.objects.visible_to(request.user).order_by("-seq").values_list("seq", flat=True).first()
        destination.cursor_seq = (last or 0) if start == "now" else 0
    destination.updated_at = timezone.now()
    destination.save()
    _record(request, destination, "create" if creating else "update", before=before, after=_snapshot(destination))
    return destination


@transaction.atomic
def destination_delete(*, request, destination: Destination) -> None:
    before = _snapshot(destination)
    _record(request, destination, "delete", before=before)
    destination.delete()


@transaction.atomic
def destination_pause(*, request, destination: Destination, paused: bool) -> None:
    Destination.objects.filter(pk=destination.pk).update(paused=paused, next_attempt_at=None, updated_at=timezone.now())
    _record(request, destination, "pause" if paused else "resume", cursor_seq=destination.cursor_seq)


@transaction.atomic
def destination_replay(*, request, destination: Destination, from_seq: int | None = None,
                       from_time: datetime | None = None) -> int:
    """Send again from a seq (that seq included) or from a time; the new cursor."""
    cursor = max(0, from_seq - 1) if from_seq is not None else stream_seq_at(destination, from_time)
    Destination.objects.filter(pk=destination.pk).update(cursor_seq=cursor, next_attempt_at=None,
                                                         consecutive_failures=0, failing=False,
                                                         updated_at=timezone.now())
    _record(request, destination, "replay", before={"cursor_seq": destination.cursor_seq},
            after={"cursor_seq": cursor}, from_seq=from_seq, from_time=from_time.isoformat() if from_time else None)
    return cursor


def dead_letters_replay(*, request, destination: Destination, ids: list[int] | None = None) -> Outcome | None:
    """Send the open dead letters (or those of `ids`) again, in one batch; those acknowledged are closed."""
    letters = destination.dead_letters.filter(replayed_at__isnull=True)
    if ids is not None:
        letters = letters.filter(pk__in=ids)
    letters = list(letters.order_by("seq")[:destination.batch_max_events])
    if not letters:
        return None
    events = stream_events_by_seq(destination, [letter.seq for letter in letters])
    if not events:
        return None
    batch = batch_cut(destination, events, render_records(destination, events))
    outcome = destination_send(destination, batch)
    with transaction.atomic():
        refused = {batch.events[i].seq: (status, response) for i, status, response in outcome.dead}
        acked_seqs = {event.seq for event in batch.events[:outcome.acked]} - set(refused)
        now = timezone.now()
        DeadLetter.objects.filter(destination=destination, seq__in=acked_seqs, replayed_at__isnull=True) \
            .update(replayed_at=now)
        for seq, (status, response) in refused.items():
            DeadLetter.objects.filter(destination=destination, seq=seq, replayed_at__isnull=True) \
                .update(status_code=status, response=(response or "")[:4000])
        _record(request, destination, "dead_letters_replay", sent=len(batch.events), acknowledged=len(acked_seqs),
                state=outcome.state)
    return outcome


def test_event() -> Event:
    """A made-up event (not from the log, not stored) for "send test"."""
    now = timezone.now()
    blank = {field.attname: "" for field in Event._meta.concrete_fields
             if field.get_internal_type() in ("TextField", "CharField")}
    return Event(**{**blank, "seq": 0, "event_id": f"test-{uuid.uuid4()}", "occurred_at": now, "received_at": now,
                    "action": "stream.test", "category": "system", "outcome": "success", "severity": "info",
                    "actor_type": "system", "actor_id": "audit-console", "ip_address": None, "status_code": None,
                    "description": "Test message from the audit console's stream destinations", "tags": ["test"],
                    "metadata": {}, "changes": None, "prev_hash": bytes(32), "hash": bytes(32)})


def destination_send_test(*, request, destination: Destination) -> Outcome:
    event = test_event()
    outcome = destination_send(destination, Batch([event], render_records(destination, [event])))
    with transaction.atomic():
        _record(request, destination, "test", state=outcome.state, status=outcome.status, detail=outcome.detail[:300])
    return outcome


__all__ = ["DELIVERED", "dead_letters_replay", "destination_delete", "destination_pause", "destination_replay",
           "destination_save", "destination_send_test"]
