"""A worker job cut off by a lost database is run again instead of ending as failed (hardening
issue, item 2: "retries what it owes"). The loss is real: the job's own PostgreSQL session is
terminated by the server (pg_terminate_backend, what a restart does to every session)."""
from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from apps.events.database_away import is_database_away, worth_retrying
from apps.events.ingest import event_ingest
from apps.reports.models import Report, Schedule
from tests.logbook import event


def owner_session() -> psycopg.Connection:
    """A session of the owner's, outside Django, that may end other sessions."""
    params = connection.get_connection_params()
    for key in ("options", "cursor_factory", "context", "pool"):
        params.pop(key, None)
    return psycopg.connect(**params, autocommit=True)


def terminate_own_session() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with owner_session() as owner:
        owner.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def error_of(statement: str, *setup: str) -> BaseException:
    with pytest.raises(DatabaseError) as caught:
        with transaction.atomic(), connection.cursor() as cursor:
            for line in setup:
                cursor.execute(line)
            cursor.execute(statement)
    return caught.value


@pytest.mark.django_db(transaction=True)
def test_a_session_the_server_ended_counts_as_the_database_away():
    terminate_own_session()
    error = error_of("SELECT 1")
    connection.close()
    assert is_database_away(error) and worth_retrying(error)


@pytest.mark.django_db(transaction=True)
def test_a_statement_timeout_or_a_bad_statement_is_an_ordinary_failure():
    timeout = error_of("SELECT pg_sleep(2)", "SET LOCAL statement_timeout = 50")  # this transaction only
    bad = error_of("SELECT * FROM no_such_table")
    assert not worth_retrying(timeout) and not worth_retrying(bad)


def test_a_report_cut_off_by_a_lost_database_is_made_again_by_the_worker(transactional_db, people, settings,
                                                                        tmp_path, monkeypatch):
    from procrastinate.contrib.django import app

    from apps.reports import generation
    from apps.reports.tasks import schedules_periodic

    settings.REPORTS_ROOT = tmp_path
    yesterday = (timezone.now() - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    event_ingest([event("away-1", "auth.login", yesterday.isoformat(), actor={"id": "alice"})])
    schedule = Schedule.objects.create(
        name="Daily access review", owner=people["compliance"], report_type="access_audit", format="pdf",
        period=Schedule.Period.PREVIOUS_DAY, recurrence=Schedule.Recurrence.DAILY,
        recipients=[], next_run_at=timezone.now() - timedelta(minutes=1))
    figures = generation.report_figures
    cut_off = []

    def figures_losing_the_database_once(report, **kwargs):
        if not cut_off:
            cut_off.append(report.pk)
            terminate_own_session()
        return figures(report, **kwargs)

    monkeypatch.setattr(generation, "report_figures", figures_losing_the_database_once)
    schedules_periodic.defer(timestamp=int(time.time()))

    def run_worker_once():
        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(wait=False, queues=["reports"], install_signal_handlers=False)

    run_worker_once()
    report = Report.objects.get(schedule=schedule)
    assert cut_off == [report.pk]
    assert report.status == Report.Status.RUNNING, report.error  # not failed: the job is owed again
    time.sleep(3.5)  # the retry's wait (DATABASE_AWAY_RETRY)
    run_worker_once()
    report.refresh_from_db()
    assert report.status == Report.Status.DONE, report.error
    assert report.files.filter(kind="report").exists()
