"""The reports' background work, run by `manage.py run_worker`: the only module of the app that
touches the queue (asking for a report queues its making; schedules queue theirs)."""
from __future__ import annotations

import logging
from datetime import datetime

from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from procrastinate.contrib.django import app

from apps.events.database_away import DATABASE_AWAY_RETRY
from apps.rbac.audit_trail import Actor
from apps.reports.generation import report_create, report_generate
from apps.reports.models import Report
from apps.reports.schedules import (
    schedule_advance, schedule_allowed, schedule_deliver_or_note, schedule_parameters, schedules_due,
)

logger = logging.getLogger(__name__)


def report_request(*, actor: Actor, principal, data: dict, schedule=None) -> Report:
    """Record a report request (ReportForm.cleaned_data) and queue its making once it is committed."""
    with transaction.atomic():
        report = report_create(actor=actor, principal=principal, data=data, schedule=schedule)
        transaction.on_commit(lambda: report_generate_task.defer(report_id=str(report.pk)))
    return report


def schedules_run_due(*, now: datetime | None = None) -> list[Report]:
    """Queue a report for every enabled schedule whose time has come (each once, across workers)."""
    now = now or timezone.now()
    made = []
    with transaction.atomic():
        for schedule in schedules_due(now=now):
            if not schedule_allowed(schedule):
                continue
            owner = schedule.owner
            made.append(report_request(actor=Actor.from_principal(owner), principal=owner,
                                       data=schedule_parameters(schedule, at=schedule.next_run_at), schedule=schedule))
            schedule_advance(schedule, now=now)
    return made


@app.task(queue="reports", name="reports.generate", retry=DATABASE_AWAY_RETRY, pass_context=True)
def report_generate_task(context, report_id: str) -> str:
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        if context.job.attempts:
            # An earlier attempt lost the database midway: make the report again from the start.
            Report.objects.filter(pk=report_id, status=Report.Status.RUNNING).update(status=Report.Status.QUEUED)
        report = report_generate(report_id)
        if report.schedule_id and report.status == report.Status.DONE:
            schedule_deliver_or_note(report)
        return report.status
    finally:
        _release()


@app.periodic(cron="* * * * *")
@app.task(queue="reports", queueing_lock="reports_schedules", name="reports.schedules")
def schedules_periodic(timestamp: int) -> int:
    """Every minute: queue the reports whose schedule is due."""
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return len(schedules_run_due())
    finally:
        _release()


def _release() -> None:
    """The worker runs each job in a thread of its own; its database session ends with the job."""
    if not connection.in_atomic_block:
        connection.close()
