"""The reports' background work, run by `manage.py run_worker`."""
from __future__ import annotations

import logging

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app

logger = logging.getLogger(__name__)


@app.task(queue="reports", name="reports.generate")
def report_generate_task(report_id: str) -> str:
    from apps.reports.generation import report_generate

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        report = report_generate(report_id)
        if report.schedule_id and report.status == report.Status.DONE:
            from apps.reports.schedules import schedule_deliver_or_note

            schedule_deliver_or_note(report)
        return report.status
    finally:
        _release()


@app.periodic(cron="* * * * *")
@app.task(queue="reports", queueing_lock="reports_schedules", name="reports.schedules")
def schedules_periodic(timestamp: int) -> int:
    """Every minute: queue the reports whose schedule is due."""
    from apps.reports.schedules import schedules_run_due

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
