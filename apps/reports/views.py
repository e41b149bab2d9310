"""/reports/: the new report form with a live preview, the reports made, downloads, schedules
and the frameworks' control mappings."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.db import connection, transaction
from django.db.utils import OperationalError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.roles import GENERATE_REPORTS, MANAGE_FRAMEWORKS
from apps.reports import figures as fig
from apps.reports.access import report_for, reports_for, schedules_for
from apps.reports.forms import EvidenceFormSet, ReportForm, ScheduleForm, schedule_next
from apps.reports.frameworks_data import frameworks_ensure, builtin_of, framework_as_dict, framework_install, framework_list
from apps.reports.generation import file_sha256, report_title, reports_root
from apps.reports.tasks import report_request
from apps.reports.models import Control, Evidence, Framework, Schedule
from apps.reports.sections import DESCRIPTIONS, sections_for
from apps.rbac.permissions import requires
from apps.rbac.preferences import user_zone

# The live preview gives up rather than keep the page waiting; the report itself has no limit.
PREVIEW_TIMEOUT_MS = 4000


@require_http_methods(["GET", "POST"])
@requires(GENERATE_REPORTS, audit_action="audit.report.request")
def report_index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ReportForm(request.POST, user=request.user)
        if form.is_valid():
            report = report_request(actor=Actor.from_request(request), principal=request.user, data=form.cleaned_data)
            messages.success(request, f"“{report_title(report)}” was requested; its downloads appear below when ready.")
            return redirect("reports:detail", pk=report.pk)
    else:
        # A link may preset the type, format and period (the auditor's dashboard: the window's evidence pack).
        preset = {name: request.GET[key] for key, name in (("type", "report_type"), ("format", "format"),
                                                            ("period", "period"), ("start", "start"), ("end", "end"))
                  if request.GET.get(key)}
        form = ReportForm(user=request.user, initial={"report_type": "access_audit", **preset})
    reports = list(reports_for(request.user)[:50])
    for report in reports:
        report.display_title = report_title(report)
    zone = user_zone(request.user)
    with timezone.override(zone):  # when each was asked for, in the user's zone; periods stay UTC
        return render(request, "reports/index.html", {
            "form": form, "reports": reports, "descriptions": DESCRIPTIONS, "zone_label": zone.key,
            "polling": any(not r.is_finished for r in reports),
        })


@require_http_methods(["GET"])
@requires(GENERATE_REPORTS, audit_action="audit.report.preview")
def report_preview(request: HttpRequest) -> HttpResponse:
    """The figures the form's choices would give: counts per section, computed as the report does."""
    form = ReportForm(request.GET, user=request.user)
    context = {"form": form}
    if form.is_valid():
        data = form.cleaned_data
        kind = data["report_type"]
        events = fig.period_events(principal=request.user, start=data["start"], end=data["end"], query=data["query"],
                                   subject=data["subject"] if kind == "user_activity" else "")
        # As the report would: the whole period's events are counted from the rollups.
        whole_period = (fig.sees_every_event(request.user) and not data["query"].strip()
                        and not (kind == "user_activity" and data["subject"].strip()))
        items = [fig.Item("summary", "time = all")]
        labels = {"summary": "All events in scope"}
        for section in sections_for(kind, data.get("sections") or []):
            items.append(fig.Item(section.key, section.query))
            labels[section.key] = section.title
        if kind == "compliance_audit" and data.get("framework"):
            for control in framework_as_dict(data["framework"])["controls"]:
                query = " OR ".join(f"({e['query']})" for e in control["evidence"])
                items.append(fig.Item(control["ref"], query))
                labels[control["ref"]] = f"{control['ref']} {control['title']}"
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {PREVIEW_TIMEOUT_MS}")
                counted = fig.items_figures(events, items, start=data["start"], end=data["end"], top=3,
                                            whole_period=whole_period)
        except OperationalError:
            context["too_slow"] = True
        else:
            context["rows"] = [(labels[item.key], counted[item.key]) for item in items]
        context["start"], context["end"] = data["start"], data["end"]
        audit_record(request=request, action="audit.report.preview",
                     metadata={"report_type": kind, "query": data["query"], "start": data["start"].isoformat(),
                               "end": data["end"].isoformat()})
    return render(request, "reports/_preview.html", context)


@require_http_methods(["GET"])
@requires(GENERATE_REPORTS, audit_action="audit.report.view")
def report_detail(request: HttpRequest, pk) -> HttpResponse:
    report = report_for(request.user, pk)
    report.display_title = report_title(report)
    template = "reports/_status.html" if request.htmx else "reports/detail.html"
    zone = user_zone(request.user)
    with timezone.override(zone):  # when it was asked for, in the user's zone; the period stays UTC
        return render(request, template, {"report": report, "files": {f.kind: f for f in report.files.all()},
                                          "f": report.figures, "zone_label": zone.key})


@require_http_methods(["GET"])
@requires(GENERATE_REPORTS, audit_action="audit.report.download")
def report_download(request: HttpRequest, pk, kind: str) -> HttpResponse:
    report = report_for(request.user, pk)
    return file_response(report, kind, actor=Actor.from_request(request))


def file_response(report, kind: str, *, actor: Actor) -> FileResponse:
    """Serve a report's file after checking it is the very file that was made (its SHA-256)."""
    file = report.files.filter(kind=kind).first()
    if file is None:
        raise Http404("This report has no such file.")
    path = reports_root() / file.path
    if not Path(path).is_file() or file_sha256(path) != file.sha256:
        audit_record(actor=actor, action="audit.report.download", outcome="error", resource_type="report",
                     resource_id=str(report.pk), description="A report file is missing or changed on disk",
                     metadata={"file": file.name})
        raise Http404("The file is missing or has changed since it was made.")
    audit_record(actor=actor, action="audit.report.download", resource_type="report", resource_id=str(report.pk),
                 resource_name=report_title(report), description=f"Downloaded {file.name}",
                 metadata={"file": file.name, "kind": kind, "sha256": file.sha256, "size": file.size})
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=file.name,
                            content_type=file.content_type)
    response["X-Content-SHA256"] = file.sha256
    return response


# --- schedules -----------------------------------------------------------------------------------


@require_http_methods(["GET"])
@requires(GENERATE_REPORTS, audit_action="audit.report.schedules")
def schedule_index(request: HttpRequest) -> HttpResponse:
    zone = user_zone(request.user)
    with timezone.override(zone):  # next and last runs in the user's zone
        return render(request, "reports/schedules.html", {"schedules": schedules_for(request.user), "zone_label": zone.key})


@require_http_methods(["GET", "POST"])
@requires(GENERATE_REPORTS, audit_action="audit.report.schedule.change")
def schedule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    schedule = schedules_for(request.user).filter(pk=pk).first() if pk else None
    if pk and schedule is None:
        raise Http404("No such schedule.")
    if request.method == "POST":
        form = ScheduleForm(request.POST, user=request.user)
        if form.is_valid():
            values = form.schedule_values()
            with transaction.atomic():
                before = _schedule_state(schedule) if schedule else None
                if schedule is None:
                    schedule = Schedule(owner=request.user)
                for key, value in values.items():
                    setattr(schedule, key, value)
                schedule.last_run_at = None if values["recurrence"] == Schedule.Recurrence.ONCE else schedule.last_run_at
                schedule.next_run_at = schedule_next(schedule)
                schedule.save()
                audit_record(request=request, action="audit.report.schedule." + ("update" if before else "create"),
                             resource_type="report_schedule", resource_id=str(schedule.pk), resource_name=schedule.name,
                             description=f"Report schedule “{schedule.name}” {'changed' if before else 'created'}",
                             changes={"before": before, "after": _schedule_state(schedule)})
            if schedule.next_run_at:
                zone = user_zone(request.user)
                messages.success(request, f"Schedule “{schedule.name}” saved ({schedule.when}); next run "
                                          f"{schedule.next_run_at.astimezone(zone):%A %Y-%m-%d %H:%M} {zone.key}.")
            else:
                messages.success(request, f"Schedule “{schedule.name}” saved (disabled).")
            if schedule.recipients and settings.EMAIL_BACKEND in _NO_MAIL_SERVER:
                messages.warning(request, "No mail server is set up (EMAIL_URL), so these reports will be made and kept "
                                          "here but not mailed to " + ", ".join(schedule.recipients) + ".")
            return redirect("reports:schedules")
    else:
        initial = None
        if schedule is not None:
            initial = {**_schedule_state(schedule), "framework": schedule.framework.key if schedule.framework_id else None,
                       "recipients": ", ".join(schedule.recipients)}
        form = ScheduleForm(initial=initial or {"recurrence": "weekly", "period": "previous_week", "enabled": True,
                                                "weekday": Schedule.Weekday.MONDAY, "day_of_month": 1,
                                                "time_of_day": "06:00", "time_zone": user_zone(request.user).key},
                            user=request.user)
    return render(request, "reports/schedule_form.html", {"form": form, "schedule": schedule})


# Mail backends that deliver nothing to anyone (EMAIL_URL left at its default, consolemail://).
_NO_MAIL_SERVER = ("django.core.mail.backends.console.EmailBackend", "django.core.mail.backends.dummy.EmailBackend")


@require_POST
@requires(GENERATE_REPORTS, audit_action="audit.report.schedule.delete")
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = schedules_for(request.user).filter(pk=pk).first()
    if schedule is None:
        raise Http404("No such schedule.")
    with transaction.atomic():
        audit_record(request=request, action="audit.report.schedule.delete", resource_type="report_schedule",
                     resource_id=str(schedule.pk), resource_name=schedule.name,
                     description=f"Report schedule “{schedule.name}” deleted",
                     changes={"before": _schedule_state(schedule), "after": None})
        schedule.delete()
    messages.success(request, f"Schedule “{schedule.name}” deleted.")
    return redirect("reports:schedules")


def _schedule_state(schedule: Schedule) -> dict:
    return {
        "name": schedule.name, "report_type": schedule.report_type,
        "framework": schedule.framework.key if schedule.framework_id else None, "query": schedule.query,
        "subject": schedule.subject, "period": schedule.period, "recurrence": schedule.recurrence,
        "cron": schedule.cron, "run_at": schedule.run_at.isoformat() if schedule.run_at else None,
        "weekday": schedule.weekday, "day_of_month": schedule.day_of_month,
        "time_of_day": schedule.time_of_day.strftime("%H:%M"), "time_zone": schedule.time_zone,
        "recipients": list(schedule.recipients), "format": schedule.format, "sections": list(schedule.sections),
        "grouping": schedule.grouping, "metrics": list(schedule.metrics),
        "include_evidence": schedule.include_evidence, "enabled": schedule.enabled,
    }


# --- frameworks ----------------------------------------------------------------------------------


@require_http_methods(["GET"])
@requires(GENERATE_REPORTS, audit_action="audit.report.frameworks")
def framework_index(request: HttpRequest) -> HttpResponse:
    frameworks = list(framework_list().prefetch_related("controls__evidence"))
    return render(request, "reports/frameworks.html", {"frameworks": frameworks,
                                                        "can_edit": request.user.has_perm(MANAGE_FRAMEWORKS)})


@require_http_methods(["GET"])
@requires(GENERATE_REPORTS, audit_action="audit.report.frameworks")
def framework_detail(request: HttpRequest, key: str) -> HttpResponse:
    framework = framework_list().filter(key=key).first()
    if framework is None:
        raise Http404("No such framework.")
    return render(request, "reports/framework_detail.html", {
        "framework": framework, "controls": framework.controls.prefetch_related("evidence"),
        "can_edit": request.user.has_perm(MANAGE_FRAMEWORKS), "has_builtin": builtin_of(key) is not None,
    })


@require_http_methods(["GET", "POST"])
@requires(MANAGE_FRAMEWORKS, audit_action="audit.report.framework.change")
def control_edit(request: HttpRequest, key: str, ref: str) -> HttpResponse:
    frameworks_ensure()
    control = Control.objects.select_related("framework").filter(framework__key=key, ref=ref).first()
    if control is None:
        raise Http404("No such control.")
    before = [{"title": e.title, "query": e.query, "shows": e.shows} for e in control.evidence.all()]
    if request.method == "POST":
        formset = EvidenceFormSet(request.POST, prefix="evidence")
        if formset.is_valid():
            kept = [f.cleaned_data for f in formset.forms
                    if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("query")]
            if not kept:
                messages.error(request, "A control needs at least one evidence query.")
            else:
                with transaction.atomic():
                    control.evidence.all().delete()
                    Evidence.objects.bulk_create([
                        Evidence(control=control, title=d["title"], query=d["query"], shows=d["shows"], position=i)
                        for i, d in enumerate(kept)])
                    after = [{"title": d["title"], "query": d["query"], "shows": d["shows"]} for d in kept]
                    Framework.objects.filter(pk=control.framework_id).update(
                        updated_at=timezone.now(), updated_by=request.user.get_username())
                    audit_record(request=request, action="audit.report.framework.update", resource_type="control",
                                 resource_id=f"{key}:{ref}", resource_name=f"{control.framework.name} {ref}",
                                 description=f"Evidence mapping of {control.framework.name} {ref} changed",
                                 changes={"before": before, "after": after})
                messages.success(request, f"Saved the evidence of {ref}.")
                return redirect("reports:framework", key=key)
    else:
        formset = EvidenceFormSet(initial=before, prefix="evidence")
    return render(request, "reports/control_form.html", {"control": control, "formset": formset})


@require_POST
@requires(MANAGE_FRAMEWORKS, audit_action="audit.report.framework.change")
def framework_reset(request: HttpRequest, key: str) -> HttpResponse:
    frameworks_ensure()
    data = builtin_of(key)
    framework = Framework.objects.filter(key=key).first()
    if data is None or framework is None:
        raise Http404("No built-in framework of that name.")
    with transaction.atomic():
        before = framework_as_dict(framework)
        framework = framework_install(data)
        audit_record(request=request, action="audit.report.framework.reset", resource_type="framework",
                     resource_id=key, resource_name=framework.name,
                     description=f"{framework.name}: control mapping reset to the built-in one",
                     changes={"before": before["controls"], "after": data["controls"]})
    messages.success(request, f"{framework.name}: mapping reset to the built-in one.")
    return redirect("reports:framework", key=key)
