"""Events as the API and exports show them: DESIGN.md's field names, plus the chain block."""
from __future__ import annotations

from apps.events.chain import format_time as _time
from apps.events.chain import hash_label
from apps.events.models import Event

# Timestamps are shown exactly as they are hashed (UTC, six fractional digits, Z), so that an
# auditor can recompute an event's hash from what the API returns.


def event_as_json(event: Event) -> dict:
    return {
        "event_id": event.event_id,
        "timestamp": _time(event.occurred_at),
        "occurred_at": _time(event.occurred_at),
        "received_at": _time(event.received_at),
        "action": event.action,
        "category": event.category,
        "outcome": event.outcome,
        "severity": event.severity,
        "actor": {
            "type": event.actor_type,
            "id": event.actor_id,
            "name": event.actor_name,
            "email": event.actor_email,
        },
        "auth_method": event.auth_method,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "session_id": event.session_id,
        "resource": {"type": event.resource_type, "id": event.resource_id, "name": event.resource_name},
        "project": event.project,
        "region": event.region,
        "request": {"method": event.request_method, "path": event.request_path, "status_code": event.status_code},
        "trace_id": event.trace_id,
        "request_id": event.request_id,
        "tags": list(event.tags),
        "description": event.description,
        "changes": event.changes,
        "metadata": event.metadata,
        "verification": {
            "seq": event.seq,
            "hash": hash_label(event.hash),
            "prev_hash": hash_label(event.prev_hash),
        },
    }
