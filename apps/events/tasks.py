"""Background work of the log, run by `manage.py run_worker`."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections, connection
from procrastinate.contrib.django import app

from apps.events.chain import checkpoint_create
from apps.events.database_away import DATABASE_AWAY_RETRY
from apps.events.models import Checkpoint
from apps.events.rollups import rollups_catch_up
from apps.events.verification_runs import verification_run_incremental
from apps.events.witness import witness_publish

logger = logging.getLogger(__name__)



# Every AUDIT_CHECKPOINT_SECONDS seconds (croniter's sixth field is the second).
@app.periodic(cron=f"* * * * * */{settings.AUDIT_CHECKPOINT_SECONDS}")
@app.task(queue="chain", queueing_lock="checkpoint", retry=DATABASE_AWAY_RETRY)
def checkpoint_periodic(timestamp: int) -> int | None:
    """Sign the chain head every few seconds when events arrived since the last checkpoint,
    and append the new checkpoints to the witness outside the database (apps.events.witness),
    so that only seconds of the log are ever covered by no witnessed signature."""
    # Between jobs the worker's connection may have gone stale, as between requests. Called
    # directly inside a caller's transaction, closing it would end that transaction instead.
    if not connection.in_atomic_block:
        close_old_connections()
    checkpoint = checkpoint_create(reason=Checkpoint.Reason.INTERVAL)
    if checkpoint is not None:
        logger.info("signed checkpoint at seq %s", checkpoint.seq)
    # After the checkpoint's commit; also publishes those chain_append signed every N events.
    witness_publish()
    return checkpoint.seq if checkpoint else None


@app.periodic(cron="* * * * *")
@app.task(queue="chain", queueing_lock="rollups_catch_up", retry=DATABASE_AWAY_RETRY)
def rollups_catch_up_periodic(timestamp: int) -> int:
    """Count events the dashboard's rollups do not count yet (stored before they existed).

    Ingest keeps the rollups current by itself once they have caught up; this is a no-op then.
    """
    if not connection.in_atomic_block:
        close_old_connections()
    return rollups_catch_up()


@app.periodic(cron="*/10 * * * *")
@app.task(queue="chain", queueing_lock="verify_incremental", retry=DATABASE_AWAY_RETRY)
def verify_incremental_periodic(timestamp: int) -> int | None:
    """Verify the chain from the last verified seq on, every ten minutes, and record the run."""
    if not connection.in_atomic_block:
        close_old_connections()
    run = verification_run_incremental()
    if run is not None and not run.valid:
        logger.error("chain verification failed at seq %s: %s", run.first_bad_seq, run.reason)
    return run.to_seq if run else None
