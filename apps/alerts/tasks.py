"""The alerts' background work, run by `manage.py run_worker`."""
from __future__ import annotations

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app


@app.periodic(cron="* * * * * */2")
@app.task(queue="alerts", queueing_lock="alerts_evaluate", name="alerts.evaluate")
def alerts_evaluate_periodic(timestamp: int) -> int:
    """Every two seconds: evaluate the enabled rules from their cursors up to the chain head.

    The queueing lock keeps at most one evaluation waiting; a run that takes longer than the
    period simply delays the next (the cursors make it catch up, nothing is skipped).
    """
    from apps.alerts.evaluate import alerts_evaluate

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return alerts_evaluate()
    finally:
        if not connection.in_atomic_block:
            connection.close()


@app.periodic(cron="23 * * * *")
@app.task(queue="alerts", queueing_lock="alerts_remove_old_jobs", pass_context=True, name="alerts.remove_old_jobs")
async def alerts_remove_old_jobs_periodic(context, timestamp: int) -> None:
    """Hourly: forget this queue's finished jobs older than an hour. The periodic task above runs
    every few seconds, so its finished jobs would otherwise pile up (thousands a day)."""
    from procrastinate import builtin_tasks

    await builtin_tasks.remove_old_jobs(context, max_hours=1, queue="alerts")
