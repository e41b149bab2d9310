"""Legal holds: events matching a query are never deleted while the hold is active.

A hold is a query in the query language (actor, project, resource, event type, time range...)
with a reason, an owner and an optional end. Retention archives held events to warm and cold
like any other (they stay searchable and verifiable), but a segment holding at least one
event that an active hold matches keeps its file past its delete age.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from apps.events.query import QueryError, parse_query
from apps.rbac.audit_trail import Actor, audit_record
from apps.retention.archive_reads import archive_table_create, archive_table_load
from apps.retention.models import ArchivedEvent, LegalHold, Segment
from apps.retention.policies import PolicyError
from apps.retention.segments import segment_table_read, warm_path
from apps.retention.storage import cold_storage


def hold_list_active(now=None) -> list[LegalHold]:
    now = now or timezone.now()
    return [hold for hold in LegalHold.objects.filter(released_at__isnull=True) if hold.is_active(now)]


def hold_list() -> list[LegalHold]:
    return list(LegalHold.objects.all())


def hold_create(*, actor: Actor, name: str, query: str, reason: str, owner: str, ends_at=None) -> LegalHold:
    for field, value in (("name", name), ("query", query), ("reason", reason), ("owner", owner)):
        if not (value or "").strip():
            raise PolicyError(field, "is required")
    try:
        parse_query(query)
    except QueryError as exc:
        raise PolicyError("query", str(exc)) from None
    if ends_at is not None and ends_at <= timezone.now():
        raise PolicyError("ends_at", "is in the past; leave it empty for a hold without end")
    with transaction.atomic():
        hold = LegalHold.objects.create(name=name.strip(), query=query.strip(), reason=reason.strip(),
                                        owner=owner.strip(), ends_at=ends_at, created_by=actor.label)
        audit_record(actor=actor, action="audit.retention.hold_create", resource_type="legal_hold",
                     resource_id=str(hold.pk), resource_name=hold.name, severity="medium",
                     description=f"{actor.label} placed legal hold {hold.name}",
                     changes={"before": None, "after": {"query": hold.query, "reason": hold.reason,
                                                        "owner": hold.owner, "ends_at": str(ends_at or "")}})
    return hold


def hold_release(*, hold: LegalHold, actor: Actor) -> LegalHold:
    with transaction.atomic():
        hold.released_at = timezone.now()
        hold.save(update_fields=["released_at"])
        audit_record(actor=actor, action="audit.retention.hold_release", resource_type="legal_hold",
                     resource_id=str(hold.pk), resource_name=hold.name, severity="medium",
                     description=f"{actor.label} released legal hold {hold.name}")
    return hold


def _segment_table(segment: Segment):
    path = warm_path(segment.file_name)
    if path.exists():
        return segment_table_read(path)
    with tempfile.TemporaryDirectory() as directory:
        local = Path(directory) / "segment.parquet"
        cold_storage().get(segment.cold_key, local)
        return segment_table_read(local)


def segment_held_by(segment: Segment, holds: list[LegalHold]) -> list[LegalHold]:
    """The active holds matching at least one of the segment's events."""
    if not holds:
        return []
    matching = []
    with transaction.atomic():
        archive_table_create()
        archive_table_load(_segment_table(segment))
        for hold in holds:
            if ArchivedEvent.objects.filter(parse_query(hold.query)).exists():
                matching.append(hold)
    return matching
