"""A retention run killed at any point loses nothing: the next run finishes the job."""
from __future__ import annotations

import pytest
from django.db import connection

from apps.events.chain_verification import chain_verify
from apps.events.models import ChainStub
from apps.retention import runs
from apps.retention.models import RetentionRun, Segment
from apps.retention.segments import warm_path


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so the run's own error handling never sees it."""


def _kill_at(monkeypatch, where):
    def stage(name, segment=None):
        if name == where:
            raise Killed(name)
    monkeypatch.setattr(runs, "_stage", stage)


def _event_ids_in_table():
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM audit_event WHERE action = 'demo.thing.do'")
        return {row[0] for row in cursor.fetchall()}


def _archived_event_ids():
    ids = set()
    for segment in Segment.objects.exclude(state=Segment.State.WRITING):
        import pyarrow.parquet as pq

        ids |= set(pq.read_table(warm_path(segment.file_name), columns=["event_id"]).column("event_id").to_pylist())
    return ids


@pytest.mark.audit_trail
@pytest.mark.parametrize("where", ["written", "verified", "purged"])
def test_a_run_killed_between_its_steps_loses_nothing_when_run_again(db, aged, monkeypatch, settings, where):
    settings.RETENTION_BATCH = 3
    sent = set(aged(*[("demo.thing.do", 40)] * 7))
    _kill_at(monkeypatch, where)
    with pytest.raises(Killed):
        runs.retention_run()
    assert RetentionRun.objects.get().state == RetentionRun.State.RUNNING  # died without a record

    monkeypatch.setattr(runs, "_stage", lambda name, segment=None: None)
    run = runs.retention_run()
    assert run.state == RetentionRun.State.DONE and RetentionRun.objects.filter(state="interrupted").count() == 1
    # Every event is in exactly one place: still in the table, or archived once with one stub.
    assert _event_ids_in_table() == set()
    assert _archived_event_ids() == sent
    assert ChainStub.objects.count() == 7
    assert sum(Segment.objects.filter(state=Segment.State.WARM).values_list("count", flat=True)) == 7
    assert not Segment.objects.filter(state__in=[Segment.State.WRITING, Segment.State.VERIFIED]).exists()
    result = chain_verify(with_archives=True)
    assert result.valid and result.archived_checked == 7
    # The second run's record reports what the killed run did too.
    with connection.cursor() as cursor:
        cursor.execute("SELECT metadata FROM audit_event WHERE action = 'audit.retention.run' ORDER BY seq")
        records = [row[0] for row in cursor.fetchall()]
    assert len(records) == 1
    import json

    reported = json.loads(records[0])["to_warm"]
    assert sum(item["count"] for item in reported) == 7
