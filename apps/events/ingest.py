"""Writing events into the log: parsing a request body, validating every event, appending.

A batch is all or nothing: if any event is invalid, nothing is stored and every error is
reported with its index and field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.events.errors import field_error
from apps.events.chain import Appended, chain_append, content_of, event_hash, hash_label
from apps.events.models import Event
from apps.events.schema import FieldError, normalize_event


class IngestError(Exception):
    """The request as a whole cannot be taken (bad JSON, too many events, ...)."""

    def __init__(self, message: str, *, status: int = 400, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or [field_error(None, message)]


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise IngestError("the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise IngestError("the JSON is nested too deeply") from None
    except ValueError as exc:
        raise IngestError(f"malformed JSON: {exc}") from None


def events_from_body(body: bytes, content_type: str = "application/json", headers: dict | None = None) -> list:
    """The list of raw events a request carries, in any of the accepted envelopes."""
    if len(body) > settings.INGEST_MAX_BODY_BYTES:
        raise IngestError(f"the body is larger than {settings.INGEST_MAX_BODY_BYTES // (1024 * 1024)} MiB", status=413)
    content_type = (content_type or "").split(";")[0].strip().lower()
    headers = headers or {}
    if body and not _is_json(content_type):
        raise IngestError(f"the body must be JSON (Content-Type application/json, application/cloudevents+json or "
                          f"application/cloudevents-batch+json); got '{content_type[:100] or 'none'}'", status=415)
    if headers.get("ce-specversion"):
        # CloudEvents binary mode: the envelope is in ce-* headers, the body is the data.
        envelope = {key[3:]: value for key, value in headers.items() if key.startswith("ce-")}
        envelope["data"] = parse_json(body) if body else None
        return [envelope]
    payload = parse_json(body)
    if content_type == "application/cloudevents-batch+json":
        if not isinstance(payload, list):
            raise IngestError("a CloudEvents batch must be a JSON array")
        return payload
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and "events" in payload and "action" not in payload and "event_type" not in payload:
        events = payload["events"]
        if not isinstance(events, list):
            raise IngestError("`events` must be a JSON array")
        return events
    if isinstance(payload, dict):
        return [payload]
    raise IngestError("the body must be an event object, {\"events\": [...]}, or an array of events")


def _is_json(content_type: str) -> bool:
    """application/json or a JSON-based type (`application/<anything>+json`, RFC 6839)."""
    return content_type == "application/json" or (content_type.startswith("application/")
                                                   and content_type.endswith("+json"))


@dataclass
class IngestResult:
    appended: list[Appended] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for item in self.appended if not item.duplicate)

    @property
    def duplicates(self) -> int:
        return sum(1 for item in self.appended if item.duplicate)

    def as_dict(self) -> dict:
        return {
            "accepted": self.created,
            "duplicates": self.duplicates,
            "events": [
                {
                    "index": index,
                    "event_id": item.event_id,
                    "seq": item.seq,
                    "hash": hash_label(item.hash),
                    "status": "duplicate" if item.duplicate else "created",
                }
                for index, item in enumerate(self.appended)
            ],
        }


def event_ingest(raw_events: list, *, projects: list[str] | None = None) -> IngestResult:
    """Validate every event, then append them all to the chain in one transaction.

    `projects` are the projects a project-limited ingest token may write to: an event that
    names none is stamped with the token's project when it has exactly one, and an event for
    another project is refused.
    """
    if not raw_events:
        raise IngestError("the batch holds no events")
    if len(raw_events) > settings.INGEST_MAX_BATCH:
        raise IngestError(f"a batch holds at most {settings.INGEST_MAX_BATCH} events; this one has {len(raw_events)}")
    normalized, errors = [], []
    # The time of events sent without one: the same object for all, so that `is` tells which
    # times were given by the server (a retry of such an event is the same event at another time).
    now = timezone.now()
    for index, raw in enumerate(raw_events):
        try:
            event = normalize_event(raw, now=now)
            if projects:
                _check_project(event, projects)
            normalized.append(event)
        except FieldError as error:
            errors.append({"index": index, "field": error.field or None, "message": _message(error)})
        except RecursionError:
            errors.append({"index": index, "field": None, "message": "the event is nested too deeply"})
    if errors:
        raise IngestError(f"{len(errors)} of {len(raw_events)} events are invalid; nothing was stored", errors=errors)
    return IngestResult(appended=_append_unless_conflicting(normalized, now=now))


@transaction.atomic
def _append_unless_conflicting(events: list[dict], *, now) -> list[Appended]:
    """chain_append, refused whole (409, rolled back) if an event_id already names another event.

    An event_id is the client's idempotency key, and ids are unique across the whole log. A
    repeat of the same event (the same content, whatever its receipt time) is a duplicate and
    answered with its seq and hash; the same id with other content (another project's event,
    which the token may not even see, or a changed event) is a conflict that names only the
    field: nothing of the stored event is revealed.
    """
    appended = chain_append(events)
    # Still under the chain-head lock chain_append took: the stored events cannot change.
    conflicts = event_conflicts(events, appended, now=now)
    if conflicts:
        raise IngestError(
            f"{len(conflicts)} of {len(events)} events reuse an event_id that names another event; nothing was stored",
            status=409,
            errors=[field_error("event_id", f"event_id '{appended[index].event_id}' is already taken by another "
                                            "event; send a new id, or this event exactly as first sent", index=index)
                    for index in conflicts],
        )
    return appended


def event_conflicts(events: list[dict], appended: list[Appended], *, now=None) -> list[int]:
    """Indexes of the events chain_append counted as duplicates whose event_id names a stored
    event with other content: a conflict, not a repeat. `now` is the time normalize_event gave
    the events sent without one (a retry of such an event is the same event at another time).

    Only the hashes are compared, so a caller can refuse the event without showing anything of
    the one stored under its id (another project's, perhaps). A stored event gone since
    chain_append found it (retention) is not a conflict.
    """
    repeated = [index for index, item in enumerate(appended) if item.duplicate]
    if not repeated:
        return []
    stored = {
        row["event_id"]: row
        for row in Event.objects.filter(event_id__in={appended[i].event_id for i in repeated}).values(
            "event_id", "seq", "received_at", "occurred_at", "prev_hash", "hash")
    }
    return [index for index in repeated
            if appended[index].event_id in stored and not _same_event(events[index], stored[appended[index].event_id], now)]


def _same_event(event: dict, row: dict, now) -> bool:
    """Whether `event`, stored in `row`'s place, would have `row`'s hash: the same content."""
    placed = {**event, "seq": row["seq"], "received_at": row["received_at"]}
    if event["occurred_at"] is now:
        placed["occurred_at"] = row["occurred_at"]
    return event_hash(bytes(row["prev_hash"]), content_of(placed)) == bytes(row["hash"])


def _check_project(event: dict, projects: list[str]) -> None:
    if not event["project"] and len(projects) == 1:
        event["project"] = projects[0]
    elif event["project"] not in projects:
        allowed = ", ".join(projects)
        raise FieldError("project", f"must be one of this token's projects ({allowed}); got '{event['project']}'")


def _message(error: FieldError) -> str:
    return f"{error.field} {error.message}" if error.field else error.message
