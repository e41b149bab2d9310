"""Bringing a cold segment back to warm for a number of days."""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.rbac.audit_trail import Actor, audit_record
from apps.retention.models import Segment
from apps.retention.policies import PolicyError
from apps.retention.segments import SegmentInvalid, segment_file_check, warm_path
from apps.retention.storage import cold_storage


def segment_restore(*, segment: Segment, days: int, actor: Actor) -> Segment:
    """Copy the segment's file back from cold storage, check it against its signed manifest,
    and keep it warm (searchable) until now + days; the nightly run removes the copy after."""
    if segment.state != Segment.State.COLD:
        raise PolicyError(None, f"only cold segments can be restored (this one is {segment.state})")
    if not 1 <= days <= 365:
        raise PolicyError("days", "must be between 1 and 365")
    path = warm_path(segment.file_name)
    cold_storage().get(segment.cold_key, path)
    try:
        segment_file_check(segment, path, every=max(1, segment.count // 1000))
    except SegmentInvalid as error:
        path.unlink(missing_ok=True)
        raise PolicyError(None, f"the cold copy failed its check: {error.reason}") from None
    with transaction.atomic():
        segment.restored_until = timezone.now() + timedelta(days=days)
        segment.save(update_fields=["restored_until"])
        audit_record(actor=actor, action="audit.retention.restore", resource_type="retention_segment",
                     resource_id=str(segment.pk), metadata={"days": days, "first_seq": segment.first_seq,
                                                             "last_seq": segment.last_seq},
                     description=f"{actor.label} restored segment #{segment.first_seq}-#{segment.last_seq} "
                                 f"to warm for {days} days")
    return segment
