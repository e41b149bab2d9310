"""A retention run: hot → warm → cold → deleted, in batches, resumable at any point.

For each batch of events past their hot days (one policy at a time, in seq order):
1. the segment row is created (WRITING) and the Parquet file written whole, read back and
   compared with what was written (segments.segment_prepare, in a worker thread);
2. the file is held to its signed manifest (size, SHA-256, signature, rows);
3. in one transaction the chain stubs are written and the segment becomes VERIFIED;
4. segment_purge removes the events from the table (the segment becomes WARM);
then segments past their warm days are copied to cold storage, checked there, and leave the
warm store; segments past their delete age lose their files unless a legal hold matches one
of their events; finally the run is recorded: a signed checkpoint and one audit event saying
what moved, what was deleted and what holds kept, with every segment not yet reported.

A run killed anywhere leaves a state the next run finishes: a WRITING segment is discarded
(its events are still in the table), a VERIFIED one is purged, a COLD one whose warm file is
still there loses it, and unreported segments are reported by the next record.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.events.chain import checkpoint_create
from apps.events.models import Checkpoint
from apps.rbac.audit_trail import Actor, audit_record
from apps.retention import holds
from apps.retention.models import RetentionPolicy, RetentionRun, Segment
from apps.retention.policies import cutoffs, policy_case_sql, policy_list
from apps.retention.purge import segment_purge
from apps.retention.segments import (
    SELECT_LIST, csv_seq_bounds, manifest_for, manifest_sidecar_write, manifest_sign, segment_file_check,
    segment_file_seal_check, segment_prepare, segment_table_check, sidecar_path, warm_path,
)
from apps.retention.storage import cold_storage

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key: one run at a time, whoever starts it.
_LOCK_KEY = 0x7265_7465_6E74  # "retent"


def _stage(stage: str, segment: Segment | None = None) -> None:
    """Called between the steps of a run. Does nothing; tests replace it to kill a run there."""


def retention_run(*, trigger: str = "nightly", actor: Actor | None = None, now=None) -> RetentionRun | None:
    """Run retention once; None when another run holds the lock."""
    actor = actor or Actor.system("retention")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
    try:
        RetentionRun.objects.filter(state=RetentionRun.State.RUNNING).update(
            state=RetentionRun.State.INTERRUPTED, finished_at=timezone.now())
        run = RetentionRun.objects.create(trigger=trigger)
        try:
            segments_recover()
            now = now or timezone.now()
            for policy in policy_list():
                _archive_policy(run, policy, now)
            _cold_step(run, now)
            _delete_step(run, now)
            _record(run, actor)
        except Exception as exc:  # a failed run is recorded, and the next run picks up after it
            logger.exception("retention run failed")
            RetentionRun.objects.filter(pk=run.pk).update(state=RetentionRun.State.FAILED, error=str(exc)[:2000],
                                                          finished_at=timezone.now())
            audit_record(actor=actor, action="audit.retention.run", outcome="failure",
                         resource_type="retention_run", resource_id=str(run.pk),
                         description=f"retention run failed: {str(exc)[:300]}")
            run.refresh_from_db()
        return run
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def segments_recover() -> None:
    """Finish what a killed run left: see the module's docstring."""
    for segment in Segment.objects.filter(state=Segment.State.WRITING):
        warm_path(segment.file_name).unlink(missing_ok=True)
        sidecar_path(warm_path(segment.file_name)).unlink(missing_ok=True)
        segment.delete()
    for segment in Segment.objects.filter(state=Segment.State.VERIFIED):
        segment_purge(segment)
    now = timezone.now()
    for segment in Segment.objects.filter(state__in=[Segment.State.COLD, Segment.State.DELETED]):
        if segment.restored_until and segment.restored_until > now and segment.state == Segment.State.COLD:
            continue
        path = warm_path(segment.file_name)
        if path.exists():
            path.unlink()
            if segment.restored_until:
                Segment.objects.filter(pk=segment.pk).update(restored_until=None)


def _copy_batch(case_sql: str, case_params: list, policy: RetentionPolicy, before, after: int, limit: int
                ) -> tuple[bytes, int]:
    """The CSV of the policy's next `limit` events past `before` with a seq above `after`, in seq
    order (SELECT_LIST), and how many rows it holds (COPY's own count).

    The rows are read in primary-key order with sorting switched off, so PostgreSQL walks the
    seq index and stops at the limit: a sort of the wide rows (ORDER BY seq LIMIT over the
    COPY's select list) spilled to disk (measured 12% of COPY's rate at 200,000 events).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        with cursor.cursor.copy(
                f"COPY (SELECT {SELECT_LIST} FROM audit_event WHERE seq > %s AND occurred_at < %s AND {case_sql} = %s"
                " ORDER BY seq LIMIT %s) TO STDOUT (FORMAT csv)", [after, before, *case_params, policy.pk, limit]) as copy:
            data = b"".join(copy)
        return data, cursor.cursor.rowcount


def _archive_policy(run: RetentionRun, policy: RetentionPolicy, now) -> None:
    """Archive the policy's events past their hot days, batch by batch, as a pipeline: while a
    worker thread writes and reads back batch N's file (segment_prepare, in pyarrow), this
    thread's connection reads batch N+1, then writes batch N's stubs and purges it. Every
    database step stays on this thread's connection (and transaction), in the order of the
    module docstring; only the file's work runs beside it."""
    case_sql, case_params = policy_case_sql(policy_list())
    before = cutoffs(policy, now)["hot"]
    batch = settings.RETENTION_BATCH
    after = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retention-segment") as worker:
        pending = None
        while True:
            data, count = _copy_batch(case_sql, case_params, policy, before, after, batch)
            started = None
            if count:
                first, after = csv_seq_bounds(data)
                segment = _segment_start(policy, first, after)
                started = (segment, worker.submit(segment_prepare, data, warm_path(segment.file_name), segment.pk))
                del data
            if pending is not None:
                _segment_finish(run, *pending)
            pending = started
            if count < batch:
                if pending is not None:
                    _segment_finish(run, *pending)
                return


def _segment_start(policy: RetentionPolicy, first: int, last: int) -> Segment:
    """Step 1: the segment row (WRITING), before its file exists, so a killed run's file is found."""
    segment = Segment.objects.create(policy=policy, first_seq=first, last_seq=last, file_name="")
    segment.file_name = f"policy-{policy.pk}/{first:012d}-{last:012d}-s{segment.pk}.parquet"
    Segment.objects.filter(pk=segment.pk).update(file_name=segment.file_name)
    return segment


def _segment_finish(run: RetentionRun, segment: Segment, prepared: Future) -> None:
    """Steps 2-4 for a segment whose file segment_prepare has written and read back: the signed
    manifest, the file held to it, the stubs, the purge."""
    prepared = prepared.result()
    table = prepared.table
    path = warm_path(segment.file_name)
    manifest = manifest_for(segment, sha256=prepared.sha256, size=prepared.size, table=table)
    segment.manifest, segment.signature, segment.key_id = manifest, manifest_sign(manifest), manifest["key_id"]
    manifest_sidecar_write(path, manifest, segment.signature)
    segment.sha256, segment.size, segment.count = prepared.sha256, prepared.size, table.num_rows
    segment.first_prev_hash = table.column("prev_hash")[0].as_py()
    segment.last_hash = table.column("hash")[-1].as_py()
    segment.oldest_at = _parse(manifest["oldest_at"])
    segment.newest_at = _parse(manifest["newest_at"])
    # The file as it lies now against the signed manifest (size, SHA-256, signature), and the
    # rows read back from it (segment_prepare compared them with what was written): their seq
    # range, count and end hashes, every row's hash recomputed for small segments, about 256
    # spread over a large one (verify_chain --with-archives recomputes them all).
    segment_file_seal_check(segment, path)
    segment_table_check(segment, table, every=max(1, table.num_rows // 256))
    _stage("written", segment)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The stubs come from the batch as read; the delete trigger holds each removed row
            # to its stub (same seq and hashes), so a stub that does not match stops the purge.
            with cursor.cursor.copy("COPY audit_chain_stub (seq, hash, prev_hash, occurred_at, segment_id) FROM STDIN") as copy:
                copy.write(prepared.stubs)
            if cursor.cursor.rowcount != table.num_rows:
                raise RuntimeError(f"segment {segment.pk}: {cursor.cursor.rowcount} stubs for {table.num_rows} events")
        segment.state = Segment.State.VERIFIED
        segment.save()
    _stage("verified", segment)
    segment_purge(segment)
    _stage("purged", segment)
    RetentionRun.objects.filter(pk=run.pk).update(archived_events=F("archived_events") + table.num_rows,
                                                  segments_written=F("segments_written") + 1)


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cold_step(run: RetentionRun, now) -> None:
    storage = None
    for policy in policy_list():
        cut = cutoffs(policy, now)
        if policy.cold_months == 0:
            continue  # deleted at the end of warm, never cold
        due = Segment.objects.filter(policy=policy, state=Segment.State.WARM, newest_at__lt=cut["warm"],
                                     newest_at__gte=cut["delete"])
        for segment in due:
            storage = storage or cold_storage()
            path = warm_path(segment.file_name)
            segment_file_check(segment, path, every=max(1, segment.count // 1000))
            storage.put(segment.file_name, path,
                        retain_until=segment.newest_at + timedelta(days=policy.delete_after_days))
            if storage.digest(segment.file_name) != (bytes(segment.sha256), segment.size):
                raise RuntimeError(f"segment {segment.pk}: the cold copy does not match the manifest")
            sidecar = sidecar_path(path)
            if sidecar.exists():
                storage.put(segment.file_name + ".manifest.json", sidecar,
                            retain_until=segment.newest_at + timedelta(days=policy.delete_after_days))
            Segment.objects.filter(pk=segment.pk).update(state=Segment.State.COLD, cold_key=segment.file_name,
                                                         moved_at=timezone.now())
            _stage("cold", segment)
            path.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            RetentionRun.objects.filter(pk=run.pk).update(segments_cold=F("segments_cold") + 1)
    # Restored copies whose time is up leave the warm store again.
    for segment in Segment.objects.filter(state=Segment.State.COLD, restored_until__lt=now):
        warm_path(segment.file_name).unlink(missing_ok=True)
        Segment.objects.filter(pk=segment.pk).update(restored_until=None)


def _delete_step(run: RetentionRun, now) -> None:
    storage = None
    active = holds.hold_list_active(now)
    for policy in policy_list():
        cut = cutoffs(policy, now)
        due = Segment.objects.filter(policy=policy, state__in=[Segment.State.WARM, Segment.State.COLD],
                                     newest_at__lt=cut["delete"])
        for segment in due:
            kept_by = holds.segment_held_by(segment, active)
            if kept_by:
                if not segment.held:
                    Segment.objects.filter(pk=segment.pk).update(held=True, reported_state="")
                RetentionRun.objects.filter(pk=run.pk).update(segments_held=F("segments_held") + 1)
                continue
            # The files first: killed after this, the segment is deleted again next time.
            warm_path(segment.file_name).unlink(missing_ok=True)
            sidecar_path(warm_path(segment.file_name)).unlink(missing_ok=True)
            if segment.cold_key:
                storage = storage or cold_storage()
                storage.delete(segment.cold_key)
                storage.delete(segment.cold_key + ".manifest.json")
            Segment.objects.filter(pk=segment.pk).update(state=Segment.State.DELETED, held=False,
                                                         moved_at=timezone.now(), restored_until=None)
            RetentionRun.objects.filter(pk=run.pk).update(segments_deleted=F("segments_deleted") + 1)


@transaction.atomic
def _record(run: RetentionRun, actor: Actor) -> None:
    """A signed checkpoint and one audit event for what this run (and any killed run before it)
    did, and the segments marked as reported, in one transaction."""
    unreported = list(Segment.objects.select_for_update().exclude(state__in=[Segment.State.WRITING,
                                                                            Segment.State.VERIFIED]).exclude(
        reported_state=F("state")))
    held = [s for s in unreported if s.held and s.state != Segment.State.DELETED]
    moved = {state: [s for s in unreported if s.state == state and s not in held]
             for state in (Segment.State.WARM, Segment.State.COLD, Segment.State.DELETED)}
    run.refresh_from_db()
    summary = {
        "run": run.pk,
        "to_warm": [_brief(s) for s in moved[Segment.State.WARM]],
        "to_cold": [_brief(s) for s in moved[Segment.State.COLD]],
        "deleted": [_brief(s) for s in moved[Segment.State.DELETED]],
        "kept_by_holds": [_brief(s) for s in held],
    }
    audit_record(
        actor=actor, action="audit.retention.run", resource_type="retention_run", resource_id=str(run.pk),
        description=(f"retention run: {sum(s.count for s in moved[Segment.State.WARM])} events archived to warm, "
                     f"{len(moved[Segment.State.COLD])} segments to cold, {len(moved[Segment.State.DELETED])} "
                     f"deleted, {len(held)} kept by legal holds"),
        metadata=summary,
    )
    for segment in unreported:
        Segment.objects.filter(pk=segment.pk).update(reported_state=segment.state)
    # Signed after the run's own audit event, so the signature covers it too.
    checkpoint = checkpoint_create(reason=Checkpoint.Reason.RETENTION)
    RetentionRun.objects.filter(pk=run.pk).update(
        state=RetentionRun.State.DONE, finished_at=timezone.now(),
        checkpoint_seq=checkpoint.seq if checkpoint else None)
    run.refresh_from_db()


def _brief(segment: Segment) -> dict:
    return {"segment": segment.pk, "policy": segment.policy.name, "first_seq": segment.first_seq,
            "last_seq": segment.last_seq, "count": segment.count}


def run_last() -> RetentionRun | None:
    return RetentionRun.objects.first()
