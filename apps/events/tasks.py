"""Background work of the log, run by `manage.py run_worker`."""
from __future__ import annotations

import logging

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app

from apps.events.chain import checkpoint_create
from apps.events.models import Checkpoint

logger = logging.getLogger(__name__)


@app.periodic(cron="*/5 * * * *")
@app.task(queue="chain", queueing_lock="checkpoint")
def checkpoint_periodic(timestamp: int) -> int | None:
    """Sign the chain head every five minutes when events arrived since the last checkpoint,
    so that at most five minutes of the log are ever covered by no signature."""
    # Between jobs the worker's connection may have gone stale, as between requests. Called
    # directly inside a caller's transaction, closing it would end that transaction instead.
    if not connection.in_atomic_block:
        close_old_connections()
    checkpoint = checkpoint_create(reason=Checkpoint.Reason.INTERVAL)
    if checkpoint is not None:
        logger.info("signed checkpoint at seq %s", checkpoint.seq)
    return checkpoint.seq if checkpoint else None
