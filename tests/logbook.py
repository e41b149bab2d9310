"""Small known logs for tests that check which events a filter, query or API call selects."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import transaction

from apps.events.ingest import event_ingest


def event(event_id: str, action: str, when: str, **fields) -> dict:
    """A raw event as a client would send it."""
    return {"event_id": event_id, "action": action, "timestamp": when, **fields}


def ago_from(now: datetime):
    """`ago(minutes=10)` → the ISO time that long before `now`."""

    def ago(**delta) -> str:
        return (now - timedelta(**delta)).isoformat()

    return ago


def stored_for_module(events: list[dict]):
    """A module-scoped `log` fixture: the events stored once for the module, rolled back after it."""

    @pytest.fixture(scope="module", name="log")
    def log(django_db_setup, django_db_blocker):
        with django_db_blocker.unblock():
            with transaction.atomic():
                event_ingest(events)
                yield
                transaction.set_rollback(True)

    return log
