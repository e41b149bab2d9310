"""The one way events leave the events table.

`segment_purge` is the only code that deletes from audit_event, through the function of
retention 0003 (the console's database role holds no DELETE of its own), and the
trigger of retention 0001 refuses a DELETE of any row not covered by a chain stub with the
same hashes that points to a verified segment holding its seq, so the function's whole-range
DELETE cannot remove a row the segment does not hold either (tests/retention check both that
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
        # The console's role holds no DELETE on audit_event: retention 0003's function, made by
        # the owner, removes the segment's seqs (one range scan when it holds every seq of its
        # range, else the seqs with its stubs) and nothing else.
        cursor.execute("SELECT retention_purge_segment(%s)", [segment.pk])
        removed = cursor.fetchone()[0]
    segment.state, segment.moved_at = Segment.State.WARM, timezone.now()
    segment.save(update_fields=["state", "moved_at"])
    return removed
