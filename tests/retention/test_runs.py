"""Retention runs: events leave the table for warm segments, then cold, then are deleted, by
policy and per event type, the chain still verifying after each step."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from apps.events.models import ChainStub
from apps.retention.models import RetentionPolicy, Segment
from apps.retention.runs import retention_run
from apps.retention.segments import warm_path


def _stored_seqs():
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM audit_event ORDER BY seq")
        return [row[0] for row in cursor.fetchall()]


def test_events_past_their_hot_days_move_to_a_verified_warm_segment_and_leave_stubs(db, aged):
    old = aged(("demo.thing.do", 40), ("demo.thing.do", 35))
    young = aged(("demo.thing.do", 2))
    run = retention_run(trigger="manual")
    assert run.state == "done", run.error
    stored = _stored_seqs()
    assert young[0] in stored and not set(old) & set(stored)
    segment = Segment.objects.get()
    assert segment.state == Segment.State.WARM and segment.count == 2
    assert warm_path(segment.file_name).exists()
    assert ChainStub.objects.filter(segment_id=segment.pk).count() == 2
