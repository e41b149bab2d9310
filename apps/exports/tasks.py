"""The exports' background work, run by `manage.py run_worker`."""
from __future__ import annotations

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app


@app.task(queue="exports", name="exports.run")
def export_job_task(job_id: str) -> str:
    from apps.exports.jobs import export_job_run

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return export_job_run(job_id).status
    finally:
        _release()


@app.periodic(cron="*/5 * * * *")
@app.task(queue="exports", queueing_lock="exports_housekeeping", name="exports.housekeeping")
def exports_housekeeping_periodic(timestamp: int) -> int:
    """Every five minutes: delete expired export files, and queue again jobs a dead worker left running."""
    from apps.exports.jobs import export_jobs_expire, export_jobs_requeue_stalled

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return export_jobs_expire() + export_jobs_requeue_stalled()
    finally:
        _release()


def _release() -> None:
    if not connection.in_atomic_block:
        connection.close()
