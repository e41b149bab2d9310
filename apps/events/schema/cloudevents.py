"""CloudEvents 1.0 envelopes: `data` is the event, the envelope fills the gaps.
"""
from __future__ import annotations



from apps.events.schema.vocabulary import FieldError, snake

def _is_cloudevent(raw: dict) -> bool:
    return "specversion" in raw


def _unwrap_cloudevent(raw: dict) -> dict:
    """A CloudEvents envelope → an event in our shapes: `data` is the event, the envelope fills gaps."""
    version = raw.get("specversion")
    if version != "1.0":
        raise FieldError("specversion", f"CloudEvents version '{version}' is not supported (use 1.0)")
    for required in ("id", "source", "type"):
        if not raw.get(required):
            raise FieldError(required, "is required in a CloudEvents envelope")
    data = raw.get("data")
    if data is None and "data_base64" in raw:
        raise FieldError("data_base64", "binary CloudEvents data is not accepted; send JSON `data`")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        data = {"data": data}
    event = dict(data)
    keys = {snake(k) for k in event}
    if not keys & {"event_id", "id"}:
        event["event_id"] = raw["id"]
    if not keys & {"action", "event_type"}:
        event["action"] = raw["type"]
    if "time" in raw and not keys & {"timestamp", "occurred_at", "time"}:
        event["timestamp"] = raw["time"]
    envelope = {k: v for k, v in raw.items() if k not in ("data", "id", "type", "time")}
    if "subject" in raw and "resource" not in keys and "resource_id" not in keys:
        event["resource_id"] = raw["subject"]
    existing_metadata = event.get("metadata")
    if existing_metadata is not None and not isinstance(existing_metadata, dict):
        raise FieldError("metadata", "must be a JSON object")
    event["metadata"] = {**(existing_metadata or {}), "cloudevents": envelope}
    return event
