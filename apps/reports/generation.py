"""Asking for a report, and making it (in the worker): figures, files, progress, failure.

`report_create` records a request (apps.reports.tasks.report_request queues it); `report_generate` (run by the worker's task) computes the
figures in PostgreSQL, renders the asked-for format (PDF, CSV, JSON, or an evidence pack),
stores the files under REPORTS_ROOT with their SHA-256, and records the report in the log.
A failure leaves the report marked failed with its reason; nothing half-written is served.
"""
from __future__ import annotations

import hashlib
import logging
import traceback
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.events.database_away import worth_retrying
from apps.search.serialize import event_as_json
from apps.rbac.audit_trail import Actor, audit_record
from apps.reports import figures as fig
from apps.reports.frameworks_data import framework_as_dict
from apps.reports.models import Format, Report, ReportFile, ReportType
from apps.reports.sections import DESCRIPTIONS, sections_for
from apps.reports.verification import period_verification

logger = logging.getLogger(__name__)

STAGES = (
    (5, "Counting the period's events"),
    (55, "Verifying the chain over the period"),
    (65, "Collecting notable events"),
    (80, "Rendering"),
    (95, "Storing the files"),
)


class ReportFailed(Exception):
    pass


def _viewer_url(query: str, start: datetime, end: datetime) -> str:
    """The viewer on exactly the events behind a figure: same query, same period."""
    last_second = (end - timedelta(seconds=1)).astimezone(dt_timezone.utc)
    params = {"start_date": start.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "end_date": last_second.strftime("%Y-%m-%dT%H:%M:%SZ"), "q": query}
    return reverse("events:list") + "?" + urlencode(params)


def _combined(*queries: str) -> str:
    parts = [q.strip() for q in queries if q and q.strip() and q.strip() != "time = all"]
    if not parts:
        return ""
    return " AND ".join(f"({p})" if len(parts) > 1 else p for p in parts)


def _subject_query(subject: str) -> str:
    value = subject.replace("\\", "\\\\").replace('"', '\\"')
    return f'actor:"{value}"'


# --- asking ------------------------------------------------------------------------------------


def report_create(*, actor: Actor, principal, data: dict, schedule=None) -> Report:
    """A queued report from cleaned parameters (ReportForm.cleaned_data), with the request recorded.

    The caller queues its making: apps.reports.tasks.report_request does both.
    """
    with transaction.atomic():
        report = Report.objects.create(
            report_type=data["report_type"], framework=data.get("framework"), title=data.get("title") or "",
            query=data.get("query") or "", subject=data.get("subject") or "", grouping=data.get("grouping") or "",
            metrics=list(data.get("metrics") or []), sections=list(data.get("sections") or []),
            format=data["format"], include_evidence=bool(data.get("include_evidence")),
            period_start=data["start"], period_end=data["end"],
            requested_by=principal if not _is_token(principal) else principal.user,
            token=principal if _is_token(principal) else None, schedule=schedule,
        )
        audit_record(actor=actor, action="audit.report.request", resource_type="report", resource_id=str(report.pk),
                     resource_name=report_title(report), description=f"{actor.label} asked for {report_title(report)}",
                     metadata=_audit_metadata(report))
    return report


def _is_token(principal) -> bool:
    from apps.rbac.models import ApiToken

    return isinstance(principal, ApiToken)


def _audit_metadata(report: Report) -> dict:
    return {
        "report_type": report.report_type, "framework": report.framework.key if report.framework_id else None,
        "period_start": report.period_start.isoformat(), "period_end": report.period_end.isoformat(),
        "query": report.query, "subject": report.subject, "format": report.format,
        "include_evidence": report.include_evidence, "sections": report.sections,
    }


def report_title(report: Report) -> str:
    if report.title:
        return report.title
    label = ReportType(report.report_type).label
    if report.report_type == ReportType.COMPLIANCE_AUDIT and report.framework_id:
        label = f"{report.framework.name} compliance report"
    if report.report_type == ReportType.USER_ACTIVITY and report.subject:
        label = f"User activity of {report.subject}"
    return f"{label}, {report.period_start:%Y-%m-%d} to {(report.period_end - timedelta(seconds=1)):%Y-%m-%d}"


# --- making --------------------------------------------------------------------------------------


def _progress(report: Report, percent: int, stage: str) -> None:
    Report.objects.filter(pk=report.pk).update(progress=percent, stage=stage)


def report_generate(report_id) -> Report:
    """Make a queued report. Called by the worker; safe to call again on a finished report (no-op)."""
    with transaction.atomic():
        report = Report.objects.select_for_update(skip_locked=True).filter(pk=report_id).first()
        if report is None or report.status != Report.Status.QUEUED:
            return report or Report.objects.get(pk=report_id)
        report.status, report.started_at, report.stage = Report.Status.RUNNING, timezone.now(), STAGES[0][1]
        report.save(update_fields=["status", "started_at", "stage"])
    try:
        figures = report_figures(report, progress=lambda p, s: _progress(report, p, s))
        _progress(report, 80, STAGES[3][1])
        files = render_files(report, figures)
        _progress(report, 95, STAGES[4][1])
        with transaction.atomic():
            for kind, (name, content_type, path) in files.items():
                ReportFile.objects.update_or_create(
                    report=report, kind=kind,
                    defaults={"name": name, "content_type": content_type, "path": str(path.relative_to(reports_root())),
                              "size": path.stat().st_size, "sha256": file_sha256(path)},
                )
            report.figures = figures
            report.status, report.progress, report.stage = Report.Status.DONE, 100, "Done"
            report.finished_at = timezone.now()
            report.save(update_fields=["figures", "status", "progress", "stage", "finished_at"])
            audit_record(actor=_actor_of(report), action="audit.report.generate", resource_type="report",
                         resource_id=str(report.pk), resource_name=report_title(report),
                         description=f"Report generated: {report_title(report)}",
                         metadata={**_audit_metadata(report), "events": figures["summary"]["events"],
                                   "verified": figures["verification"].get("verified"),
                                   "files": {kind: f[0] for kind, f in files.items()}})
    except Exception as error:  # the reason is shown to the person who asked
        if worth_retrying(error):
            # The database went away: the report stays running, and the worker runs the job
            # again (reports.tasks), which queues it afresh and makes it from the start.
            raise
        logger.exception("report %s failed", report.pk)
        reason = str(error) if isinstance(error, ReportFailed) else f"{type(error).__name__}: {error}"
        Report.objects.filter(pk=report.pk).update(status=Report.Status.FAILED, error=reason[:2000],
                                                   stage="Failed", finished_at=timezone.now())
        audit_record(actor=_actor_of(report), action="audit.report.generate", outcome="error", resource_type="report",
                     resource_id=str(report.pk), resource_name=report_title(report),
                     description=f"Report failed: {reason[:200]}",
                     metadata={**_audit_metadata(report), "error": reason[:1000],
                               "trace": traceback.format_exc()[-2000:]})
    report.refresh_from_db()
    return report


def _actor_of(report: Report) -> Actor:
    principal = report.principal
    if principal is None:
        return Actor.system("report")
    return Actor.from_principal(principal)


def reports_root() -> Path:
    root = Path(settings.REPORTS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def report_figures(report: Report, *, progress=lambda percent, stage: None) -> dict:
    """Every figure of the report, as a JSON-able dict (also the CSV and JSON formats' source)."""
    principal = report.principal
    if principal is None:
        raise ReportFailed("the person who asked for this report no longer exists")
    start, end = report.period_start, report.period_end
    events = fig.period_events(principal=principal, start=start, end=end, query=report.query,
                               subject=report.subject if report.report_type == ReportType.USER_ACTIVITY else "")
    base_query = _combined(report.query, _subject_query(report.subject)
                           if report.report_type == ReportType.USER_ACTIVITY and report.subject else "")

    items = [fig.Item("summary", "time = all")]
    sections = sections_for(report.report_type, report.sections)
    items += [fig.Item(f"section:{s.key}", s.query) for s in sections]
    mapping = None
    if report.report_type == ReportType.COMPLIANCE_AUDIT:
        if not report.framework_id:
            raise ReportFailed("a compliance report needs a framework")
        mapping = framework_as_dict(report.framework)
        for control in mapping["controls"]:
            for n, evidence in enumerate(control["evidence"]):
                items.append(fig.Item(f"evidence:{control['ref']}:{n}", evidence["query"]))

    # The report's events are the whole period's: its summary may be read from the rollups.
    whole_period = (fig.sees_every_event(principal) and not report.query.strip()
                    and not (report.report_type == ReportType.USER_ACTIVITY and report.subject.strip()))
    progress(5, STAGES[0][1])
    counted = fig.items_figures(events, items, start=start, end=end, whole_period=whole_period)
    progress(55, STAGES[1][1])
    verification = period_verification(events)
    progress(65, STAGES[2][1])

    limit = settings.REPORTS_TABLE_ROWS
    actor_ids = set()

    def block(key: str, query: str, *, with_changes: bool = False, notable: bool = True, rows_max: int = limit) -> dict:
        figures = counted[key]
        rows = []
        if figures["events"]:
            rows = [_event_row(e, with_changes=with_changes)
                    for e in fig.notable_events(events, query, end=end, limit=rows_max,
                                                notable_only=notable and fig.has_notable(figures))]
        actor_ids.update(k for k, _ in figures["top_actors"])
        return {"query": query, "viewer_query": _combined(base_query, query),
                "viewer_url": _viewer_url(_combined(base_query, query), start, end),
                "figures": figures, "events_shown": len(rows), "events": rows}

    summary = counted["summary"]
    result = {
        "report": _meta(report),
        "summary": {**block("summary", "time = all", notable=True), "title": "Summary"},
        "sections": [],
        "controls": [],
        "groups": None,
        "verification": verification,
    }
    for section in sections:
        result["sections"].append({"key": section.key, "title": section.title, "description": section.description,
                                   **block(f"section:{section.key}", section.query, with_changes=section.with_changes)})
    if mapping is not None:
        result["framework"] = {k: mapping[k] for k in ("key", "name", "version", "description", "based_on",
                                                       "updated_at", "updated_by")}
        for control in mapping["controls"]:
            evidence = []
            for n, item in enumerate(control["evidence"]):
                evidence.append({"title": item["title"], "shows": item["shows"],
                                 **block(f"evidence:{control['ref']}:{n}", item["query"], with_changes=True,
                                          rows_max=settings.REPORTS_EVIDENCE_ROWS)})
            total = sum(e["figures"]["events"] for e in evidence)
            result["controls"].append({
                "ref": control["ref"], "title": control["title"], "description": control["description"],
                "evidence": evidence, "events": total,
                "status": "evidence found" if total else "no events in the period",
            })
    if report.report_type == ReportType.CUSTOM and report.grouping:
        result["groups"] = fig.grouped_figures(events, grouping=report.grouping)
        if report.grouping == "user":
            actor_ids.update(row["key"] for row in result["groups"]["rows"][:50])
    result["actor_labels"] = fig.actor_labels(events, sorted(a for a in actor_ids if a))
    result["summary"]["figures"]["events"] = summary["events"]
    return result


def _meta(report: Report) -> dict:
    return {
        "id": str(report.pk), "type": report.report_type, "type_label": ReportType(report.report_type).label,
        "type_description": DESCRIPTIONS.get(report.report_type, ""),
        "title": report_title(report), "organisation": settings.REPORTS_ORGANISATION,
        "period_start": report.period_start.isoformat(), "period_end": report.period_end.isoformat(),
        "query": report.query, "subject": report.subject, "grouping": report.grouping,
        "metrics": report.metrics or ["event_count", "unique_users", "resources_affected"],
        "sections": [s.key for s in sections_for(report.report_type, report.sections)],
        "generated_at": timezone.now().isoformat(), "generated_by": report.requester_label,
        "requested_at": report.created_at.isoformat(),
        "format": report.format, "include_evidence": report.include_evidence,
        "framework": report.framework.key if report.framework_id else None,
    }


def _event_row(event, *, with_changes: bool) -> dict:
    row = {
        "seq": event.seq, "event_id": event.event_id, "occurred_at": event.occurred_at.isoformat(),
        "action": event.action, "category": event.category, "outcome": event.outcome, "severity": event.severity,
        "actor": event.actor_name or event.actor_email or event.actor_id, "actor_id": event.actor_id,
        "ip_address": str(event.ip_address) if event.ip_address else "",
        "resource": f"{event.resource_type}:{event.resource_id}".strip(":"),
        "description": event.description[:300], "project": event.project,
    }
    if with_changes and event.changes:
        from apps.events.diff import changes_diff

        row["changes"] = [{"path": r.path, "before": r.before if r.has_before else "",
                           "after": r.after if r.has_after else "", "kind": r.kind}
                          for r in changes_diff(event.changes).rows if r.kind != "same"][:12]
    return row


def render_files(report: Report, figures: dict) -> dict:
    """{kind: (download name, content type, path)} for the asked-for format (and evidence pack)."""
    from apps.reports import render

    folder = reports_root() / str(report.pk)
    folder.mkdir(parents=True, exist_ok=True)
    stem = render.file_stem(figures)
    files = {}
    pdf_path = None
    if report.format in (Format.PDF, Format.ZIP) or report.include_evidence:
        pdf_path = folder / f"{stem}.pdf"
        pdf_path.write_bytes(render.report_pdf(figures))
    if report.format == Format.PDF:
        files["report"] = (pdf_path.name, "application/pdf", pdf_path)
    elif report.format == Format.CSV:
        path = folder / f"{stem}.csv"
        path.write_text(render.report_csv(figures), encoding="utf-8")
        files["report"] = (path.name, "text/csv; charset=utf-8", path)
    elif report.format == Format.JSON:
        path = folder / f"{stem}.json"
        path.write_text(render.report_json(figures), encoding="utf-8")
        files["report"] = (path.name, "application/json", path)
    if report.format == Format.ZIP or report.include_evidence:
        from apps.reports.packs import pack_build

        path = folder / f"{stem}-evidence.zip"
        pack_build(report=report, figures=figures, pdf_path=pdf_path, out_path=path)
        files["evidence"] = (path.name, "application/zip", path)
        if report.format == Format.ZIP:
            files["report"] = files["evidence"]
    return files


def event_json(event) -> dict:
    return event_as_json(event)
