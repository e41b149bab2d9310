"""The outbox's background work, run by `manage.py run_worker`."""
from __future__ import annotations

from django.db import close_old_connections, connection
from procrastinate.contrib.django import app


@app.periodic(cron="* * * * * */5")
@app.task(queue="outbound", queueing_lock="outbox_deliver", name="outbound.deliver_due")
def outbox_deliver_periodic(timestamp: int) -> int:
    """Every five seconds: deliver what is due. A dead receiver only delays its own messages."""
    from apps.outbound.outbox import outbox_deliver_due

    if not connection.in_atomic_block:
        close_old_connections()
    try:
        total = 0
        while True:
            batch = outbox_deliver_due(limit=50)
            total += len(batch)
            if len(batch) < 50:
                return total
    finally:
        if not connection.in_atomic_block:
            connection.close()
