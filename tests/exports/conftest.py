"""Events whose text is hostile, stored through the real ingest path, for the format tests."""
from __future__ import annotations

import pytest

from apps.events.ingest import event_ingest
from apps.events.models import Event
from tests.factories import HOSTILE_EVENT

SAMPLES = [
    {"event_id": "login-1", "action": "auth.login", "timestamp": "2026-03-01T09:00:00Z", "outcome": "failure",
     "actor": {"id": "u1", "email": "alice@example.com"}, "auth_method": "password", "ip_address": "198.51.100.7",
     "project": "acme"},
    {"event_id": "pw-1", "action": "iam.user.password.reset", "timestamp": "2026-03-01T09:01:00Z",
     "actor": {"id": "admin"}, "resource": {"type": "user", "id": "u2", "name": "bob"}, "project": "acme"},
    {"event_id": "api-1", "action": "storage.bucket.read", "timestamp": "2026-03-01T09:02:00Z",
     "actor": {"type": "api_key", "id": "key_1"}, "request_method": "GET", "request_path": "/v1/buckets/b1",
     "status_code": 200, "project": "acme"},
    {"event_id": "vm-1", "action": "compute.vm.delete", "timestamp": "2026-03-01T09:03:00Z",
     "actor": {"id": "ops"}, "resource": {"type": "vm", "id": "vm_01"}, "project": "globex", "severity": "medium"},
]


@pytest.fixture
def stored(db) -> list[Event]:
    """The samples and the hostile event, as the log stores them (oldest first)."""
    event_ingest(SAMPLES + [HOSTILE_EVENT])
    return list(Event.objects.filter(event_id__in=[e["event_id"] for e in SAMPLES + [HOSTILE_EVENT]])
                .order_by("seq"))


@pytest.fixture
def hostile(stored) -> Event:
    return next(event for event in stored if event.event_id == "hostile-1")
