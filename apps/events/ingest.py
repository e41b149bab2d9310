"""Writing events into the log: parsing a request body, validating every event, appending.

A batch is all or nothing: if any event is invalid, nothing is stored and every error is
reported with its index and field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings

from apps.events.errors import field_error
from apps.events.chain import Appended, chain_append, hash_label
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
    for index, raw in enumerate(raw_events):
        try:
            event = normalize_event(raw)
            if projects:
                _check_project(event, projects)
            normalized.append(event)
        except FieldError as error:
            errors.append({"index": index, "field": error.field or None, "message": _message(error)})
        except RecursionError:
            errors.append({"index": index, "field": None, "message": "the event is nested too deeply"})
    if errors:
        raise IngestError(f"{len(errors)} of {len(raw_events)} events are invalid; nothing was stored", errors=errors)
    return IngestResult(appended=chain_append(normalized))


def _check_project(event: dict, projects: list[str]) -> None:
    if not event["project"] and len(projects) == 1:
        event["project"] = projects[0]
    elif event["project"] not in projects:
        allowed = ", ".join(projects)
        raise FieldError("project", f"must be one of this token's projects ({allowed}); got '{event['project']}'")


def _message(error: FieldError) -> str:
    return f"{error.field} {error.message}" if error.field else error.message
