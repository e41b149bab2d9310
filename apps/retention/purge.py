"""The one way events leave the events table.

`segment_purge` is the only code that deletes from audit_event, and the database lets it: the
trigger of retention 0001 refuses a DELETE of any row not covered by a chain stub with the
same hashes that points to a verified segment holding its seq (tests/retention check both
that other DELETEs fail and that no other module issues one).
"""
from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from apps.retention.models import Segment


@transaction.atomic
def segment_purge(segment: Segment) -> int:
    """Remove a verified segment's events from the table, leaving their stubs; the segment
    becomes WARM in the same transaction. Returns how many rows left (0 when a run killed
    after the delete left the segment VERIFIED: the next run only records the state)."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if segment.state != Segment.State.VERIFIED:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM audit_event WHERE seq IN (SELECT seq FROM audit_chain_stub WHERE segment_id = %s)"
            " AND seq BETWEEN %s AND %s",
            [segment.pk, segment.first_seq, segment.last_seq],
        )
        removed = cursor.rowcount
    segment.state, segment.moved_at = Segment.State.WARM, timezone.now()
    segment.save(update_fields=["state", "moved_at"])
    return removed
