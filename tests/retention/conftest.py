"""Shared fixtures of the retention tests: archive and cold directories of their own, and a
log of back-dated events sent through the real ingest API."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone


@pytest.fixture(autouse=True)
def _retention_dirs(settings, tmp_path):
    settings.RETENTION_ROOT = tmp_path / "archive"
    settings.RETENTION_COLD_URL = (tmp_path / "cold").as_uri()
    return tmp_path


@pytest.fixture
def days_ago():
    now = timezone.now()

    def at(days: float) -> str:
        return (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")

    return at


@pytest.fixture
def aged(ingest, days_ago):
    """Send events of `action` aged `days` days (one per entry); returns their event ids."""

    def send(*items, project="p1", actor="alice"):
        events = [{"event_id": f"{action}-{days}-{project}-{actor}-{index}", "action": action, "timestamp": days_ago(days),
                   "project": project, "actor": {"type": "user", "id": actor},
                   "metadata": {"n": index, "note": "x" * (index % 7)}, "tags": ["t", f"i{index}"]}
                  for index, (action, days) in enumerate(items)]
        ingest(*events)
        return [event["event_id"] for event in events]

    return send
