"""The one way events leave the events table.

`segment_purge` is the only code that deletes from audit_event, and the database lets it: the
trigger of retention 0001 refuses a DELETE of any row not covered by a chain stub with the
same hashes that points to a verified segment holding its seq, so the whole-range DELETE
below cannot remove a row the segment does not hold either (tests/retention check both that
other DELETEs fail and that no other module issues one).
"""
from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from apps.retention.models import Segment


def _work_mem_mb(count: int) -> int:
    return min(512, max(4, count * 1500 // 2**20))


@transaction.atomic
def segment_purge(segment: Segment) -> int:
    """Remove a verified segment's events from the table, leaving their stubs; the segment
    becomes WARM in the same transaction. Returns how many rows left (0 when a run killed
    after the delete left the segment VERIFIED: the next run only records the state)."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if segment.state != Segment.State.VERIFIED:
        return 0
    with connection.cursor() as cursor:
        # The guard trigger's transition table holds every deleted row (about 1 KB each): with
        # PostgreSQL's default 4 MB it spills to a temporary file (100 MB for a segment of
        # 100,000 events); a segment's worth stays in memory instead, for this transaction only.
        cursor.execute("SET LOCAL work_mem = %s", [f"{_work_mem_mb(segment.count)}MB"])
        if segment.count == segment.last_seq - segment.first_seq + 1:
            # The segment holds every seq of its range (one policy's events, back to back): one
            # range scan of the primary key finds exactly its rows.
            cursor.execute("DELETE FROM audit_event WHERE seq BETWEEN %s AND %s", [segment.first_seq, segment.last_seq])
        else:
            # Other policies' events lie in the range too: only the seqs with a stub of this segment.
            cursor.execute(
                "DELETE FROM audit_event WHERE seq BETWEEN %s AND %s AND seq IN"
                " (SELECT seq FROM audit_chain_stub WHERE seq BETWEEN %s AND %s AND segment_id = %s)",
                [segment.first_seq, segment.last_seq, segment.first_seq, segment.last_seq, segment.pk],
            )
        removed = cursor.rowcount
    segment.state, segment.moved_at = Segment.State.WARM, timezone.now()
    segment.save(update_fields=["state", "moved_at"])
    return removed
