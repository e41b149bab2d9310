"""Exports of the viewer's current search: small ones stream at once, large ones go to the worker.

A job keeps the query string and the user; the worker reads the events as that user, through
the visibility rule (`apps.search.export.export_chunks` reads from `visible_to`), writes them to a file
under settings.EXPORTS_ROOT with its SHA-256, reports progress as it goes, and the file is
kept for settings.EXPORTS_KEEP_HOURS, then deleted by a periodic task. Every export (direct or
queued) is recorded in the chained log when it is asked for, like the API's exports.
"""
from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from apps.events.database_away import worth_retrying
from apps.search import export
from apps.search import reads
from apps.search.formats import ExportFormat
from apps.search.filters import EventFilterSet
from apps.exports.formats import FormatInvalid, export_format_for
from apps.exports.models import ExportJob
from apps.rbac.audit_trail import audit_record


def search_condition(querystring: str):
    """The viewer's filters of `querystring` as (Q, the query text), or FormatInvalid naming the bad one."""
    params = QueryDict(querystring)
    filterset = EventFilterSet(params)
    if not filterset.is_valid():
        field, messages = next(iter(filterset.errors.items()))
        raise FormatInvalid(field, f"the search is not valid: {field}: {' '.join(messages)}")
    return filterset.condition, params.get("q", "")


def export_count(*, user, querystring: str) -> tuple[int, bool]:
    """(matching events counted up to the viewer's cap, whether that count is exact)."""
    condition, _ = search_condition(querystring)
    page = reads.event_page(principal=user, limit=1, filters=condition, order="oldest")
    return page.total, page.total_is_exact


def export_filename_for(fmt: ExportFormat, query: str) -> str:
    return export.export_filename(fmt=fmt, start=None, end=None, query=query, now=timezone.now())


def export_direct(*, request, querystring: str, fmt: ExportFormat):
    """(chunks, filename) of an export streamed in the response, recorded in the chained log."""
    condition, query = search_condition(querystring)
    filename = export_filename_for(fmt, query)
    audit_record(request=request, action="audit.events.export", resource_type="event_export", resource_name=filename,
                 description=f"{request.user.get_username()} exported events as {fmt.name}",
                 metadata={"query": querystring[:4096], "format": fmt.name, "delivery": "direct"})
    return export.export_chunks(fmt, principal=request.user, filters=condition), filename


def export_job_create(*, request, querystring: str, format_name: str, template_id: int | None,
                      expected: int) -> ExportJob:
    """A queued export job, with the request recorded in the chained log (apps.exports.tasks
    .export_job_request creates one and queues its making)."""
    fmt = export_format_for(principal=request.user, name=format_name, template_id=template_id)
    _, query = search_condition(querystring)
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=request.user, querystring=querystring, format=format_name,
                                       template_id=template_id, expected=expected,
                                       filename=export_filename_for(fmt, query))
        audit_record(request=request, action="audit.events.export", resource_type="event_export",
                     resource_id=str(job.pk), resource_name=job.filename,
                     description=f"{request.user.get_username()} asked for an export of events as {format_name}",
                     metadata={"query": querystring[:4096], "format": format_name, "delivery": "worker",
                               "expected": expected})
    return job


def exports_root() -> Path:
    root = Path(settings.EXPORTS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_job_run(job_id) -> ExportJob:
    """Write a queued job's file. Called by the worker; a job not queued is left as it is."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None or job.status != ExportJob.Status.QUEUED:
            return job or ExportJob.objects.get(pk=job_id)
        job.status = ExportJob.Status.RUNNING
        job.save(update_fields=["status"])
    path = exports_root() / f"{job.pk}.part"
    try:
        user = job.requested_by
        if not (user.is_active and export.can_export(user)):
            raise FormatInvalid("user", f"{user.get_username()} may no longer export events")
        fmt = export_format_for(principal=user, name=job.format, template_id=job.template_id)
        condition, _ = search_condition(job.querystring)
        digest, size, written = hashlib.sha256(), 0, 0

        def counted(chunks):
            nonlocal written
            for events in chunks:
                yield events
                written += len(events)
                ExportJob.objects.filter(pk=job.pk).update(written=written)

        with open(path, "wb") as out:
            for chunk in export.export_chunks(fmt, principal=user, filters=condition, counted=counted):
                data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
                out.write(data)
                digest.update(data)
                size += len(data)
        final = path.with_suffix("." + fmt.extension.rsplit(".", 1)[-1])
        os.replace(path, final)
        now = timezone.now()
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE, written=written, path=str(final), size=size, sha256=digest.hexdigest(),
            finished_at=now, expires_at=now + timedelta(hours=settings.EXPORTS_KEEP_HOURS))
    except Exception as error:  # the job says why; the worker goes on
        path.unlink(missing_ok=True)
        if worth_retrying(error):
            # The database went away: the job stays running, and the worker runs it again
            # (exports.tasks), which queues it afresh and writes the file from the start.
            raise
        message = error.message if isinstance(error, FormatInvalid) else f"{type(error).__name__}: {error}"
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=message[:2000],
                                                    finished_at=timezone.now())
    return ExportJob.objects.get(pk=job.pk)


def export_jobs_expire(*, now=None) -> int:
    """Delete the files of exports past their keeping time; the jobs stay, marked expired."""
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now):
        if job.path:
            Path(job.path).unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED, path="")
        expired += 1
    return expired


def export_jobs_stalled_reset(*, older_than: timedelta = timedelta(minutes=30)) -> list[str]:
    """Jobs left running by a worker that died, set back to queued (their partial file is rewritten);
    their ids, for apps.exports.tasks to queue again."""
    stalled = ExportJob.objects.filter(status=ExportJob.Status.RUNNING, created_at__lt=timezone.now() - older_than)
    ids = [str(pk) for pk in stalled.values_list("pk", flat=True)]
    ExportJob.objects.filter(pk__in=ids).update(status=ExportJob.Status.QUEUED, written=0)
    return ids


def export_job_list(*, user):
    return ExportJob.objects.filter(requested_by=user)


def export_job_get(*, user, pk) -> ExportJob | None:
    return export_job_list(user=user).filter(pk=pk).first()
