"""The exports' background work, run by `manage.py run_worker`: the only module of the app that
touches the queue."""
from __future__ import annotations

from django.db import close_old_connections, connection, transaction
from procrastinate.contrib.django import app

from apps.events.database_away import DATABASE_AWAY_RETRY
from apps.exports.jobs import export_job_create, export_job_run, export_jobs_expire, export_jobs_stalled_reset
from apps.exports.models import ExportJob


def export_job_request(*, request, querystring: str, format_name: str, template_id: int | None,
                       expected: int) -> ExportJob:
    """Record a large export for the worker and queue its making once it is committed."""
    with transaction.atomic():
        job = export_job_create(request=request, querystring=querystring, format_name=format_name,
                                template_id=template_id, expected=expected)
        transaction.on_commit(lambda: export_job_task.defer(job_id=str(job.pk)))
    return job


def export_jobs_requeue_stalled() -> int:
    """Jobs left running by a worker that died: queued again."""
    ids = export_jobs_stalled_reset()
    for pk in ids:
        export_job_task.defer(job_id=pk)
    return len(ids)


@app.task(queue="exports", name="exports.run", retry=DATABASE_AWAY_RETRY, pass_context=True)
def export_job_task(context, job_id: str) -> str:
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        if context.job.attempts:
            # An earlier attempt lost the database midway: write the file again from the start.
            ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING).update(status=ExportJob.Status.QUEUED)
        return export_job_run(job_id).status
    finally:
        _release()


@app.periodic(cron="*/5 * * * *")
@app.task(queue="exports", queueing_lock="exports_housekeeping", name="exports.housekeeping")
def exports_housekeeping_periodic(timestamp: int) -> int:
    """Every five minutes: delete expired export files, and queue again jobs a dead worker left running."""
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return export_jobs_expire() + export_jobs_requeue_stalled()
    finally:
        _release()


def _release() -> None:
    if not connection.in_atomic_block:
        connection.close()
