"""The streams' background work, run by `manage.py run_worker`."""
from __future__ import annotations

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app


@app.periodic(cron="* * * * * */5")
@app.task(queue="streams", queueing_lock="streams_deliver", name="streams.deliver_due")
def streams_deliver_periodic(timestamp: int) -> int:
    """Every five seconds: carry every active destination forward from its cursor, for 4.5 s.

    With destinations configured, this job keeps one worker slot busy most of the time so that
    an event waits a fraction of a second, not for the next tick; jobs queued meanwhile run
    between ticks (FIFO), delayed by at most the budget. A deployment with heavy streams runs a
    worker of its own for them: `manage.py run_worker --queue streams`. Without any active
    destination it returns at once.
    """
    from apps.streams.delivery import streams_deliver_due

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        return streams_deliver_due(budget_seconds=4.5)
    finally:
        if not connection.in_atomic_block:
            connection.close()
