"""Legal holds: events matching a query are never deleted while the hold is active.

A hold is a query in the query language (actor, project, resource, event type, time range...)
with a reason, an owner and an optional end. Retention archives held events to warm and cold
like any other (they stay searchable and verifiable), but a segment holding at least one
event that an active hold matches keeps its file past its delete age.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.events.query import QueryError, parse_query
from apps.rbac.audit_trail import Actor, audit_record
from apps.retention.archive_reads import archive_table_create, archive_table_load
from apps.retention.models import ArchivedEvent, LegalHold, Segment
from apps.retention.policies import PolicyError
from apps.retention.segments import segment_table_read, warm_path
from apps.retention.storage import cold_storage
from apps.retention.warm_search import warm_count
from apps.retention.warm_sql import Untranslatable


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


@dataclass
class HeldCounts:
    """What the active legal holds keep from deletion at the next run: the archived events they
    match in segments past their policy's delete age (whose files the run would otherwise
    delete), per hold and per policy (an event two holds match counts once for its policy)."""

    per_hold: dict[int, int] = field(default_factory=dict)
    per_policy: dict[int, int] = field(default_factory=dict)
    segments_per_hold: dict[int, int] = field(default_factory=dict)


def held_counts(now=None) -> HeldCounts:
    """HeldCounts for the policy preview and the status page. Counted in the segment files with
    DuckDB (warm_search.warm_count over the hold's query); a query it does not translate is
    counted in PostgreSQL over the segments loaded one by one."""
    from apps.retention.policies import cutoffs, policy_list

    now = now or timezone.now()
    active = hold_list_active(now)
    counts = HeldCounts()
    if not active:
        return counts
    conditions = {hold.pk: parse_query(hold.query, now=now) for hold in active}
    anyone = Q(*conditions.values(), _connector=Q.OR)
    with tempfile.TemporaryDirectory() as directory:
        for policy in policy_list():
            due = Segment.objects.filter(policy=policy, state__in=[Segment.State.WARM, Segment.State.COLD],
                                         newest_at__lt=cutoffs(policy, now)["delete"]).order_by("first_seq")
            files = [_segment_file(segment, directory) for segment in due]
            if not files:
                continue
            counts.per_policy[policy.pk] = _count(files, anyone)
            for pk, condition in conditions.items():
                per_file = [_count([path], condition) for path in files]
                counts.per_hold[pk] = counts.per_hold.get(pk, 0) + sum(per_file)
                counts.segments_per_hold[pk] = counts.segments_per_hold.get(pk, 0) + sum(1 for n in per_file if n)
    return counts


def _segment_file(segment: Segment, directory: str) -> str:
    path = warm_path(segment.file_name)
    if path.exists():
        return str(path)
    local = Path(directory) / f"segment-{segment.pk}.parquet"
    cold_storage().get(segment.cold_key, local)
    return str(local)


def _count(files: list[str], condition) -> int:
    try:
        return warm_count(files=files, condition=condition)
    except Untranslatable:
        total = 0
        for path in files:
            with transaction.atomic():
                archive_table_create()
                archive_table_load(segment_table_read(Path(path)))
                total += ArchivedEvent.objects.filter(condition).count()
        return total


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
