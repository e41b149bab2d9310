"""Retention's background work, run by `manage.py run_worker`: nightly, and "run now"."""
from __future__ import annotations

import logging

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app

from apps.events.database_away import DATABASE_AWAY_RETRY
from apps.retention.status import NIGHTLY_CRON

logger = logging.getLogger(__name__)


def _run(trigger: str) -> str | None:
    from apps.retention.runs import retention_run

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        run = retention_run(trigger=trigger)
        if run is None:
            logger.info("retention: another run holds the lock")
            return None
        if run.state != "done":
            logger.error("retention run %s %s: %s", run.pk, run.state, run.error)
        return run.state
    finally:
        if not connection.in_atomic_block:
            connection.close()


@app.periodic(cron=NIGHTLY_CRON)
@app.task(queue="retention", queueing_lock="retention_nightly", name="retention.nightly")
def retention_nightly(timestamp: int) -> str | None:
    """Every night: archive, move to cold, delete, record. A run that fails or is killed is
    finished by the next one (apps.retention.runs)."""
    return _run("nightly")


# Runs are resumable (apps.retention.runs): one cut off by a lost database is run again.
@app.task(queue="retention", queueing_lock="retention_now", name="retention.now", retry=DATABASE_AWAY_RETRY)
def retention_now() -> str | None:
    """"Run now" from the retention page."""
    return _run("manual")
