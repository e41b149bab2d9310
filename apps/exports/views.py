"""/exports/: export the viewer's current search in any format; follow and download large
exports made by the worker; keep custom export templates."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.search import export
from apps.search.filters import viewer_querystring
from apps.exports.formats import FormatInvalid, export_format_for, export_template_list
from apps.exports.forms import ExportForm, ExportTemplateForm
from apps.exports.jobs import export_count, export_direct, export_job_get, export_job_list
from apps.exports.tasks import export_job_request
from apps.exports.models import ExportJob
from apps.exports.templates_store import export_template_delete, export_template_save
from apps.rbac.permissions import requires
from apps.rbac.roles import EXPORT_EVENTS, MANAGE_STREAMS


def _querystring(request: HttpRequest, source) -> str:
    return viewer_querystring(source, drop=("cursor", "before", "saved", "owner", "qs", "format",
                                            "csrfmiddlewaretoken"))


@require_http_methods(["GET", "POST"])
@requires(EXPORT_EVENTS, audit_action="audit.events.export")
def export_new(request: HttpRequest) -> HttpResponse:
    """The Export button's page: the current search, its count, a format; then the file or a job."""
    if request.method == "POST":
        form = ExportForm(request.POST, user=request.user)
        querystring = request.POST.get("qs", "")
    else:
        form = ExportForm(user=request.user, initial={"format": "csv"})
        querystring = _querystring(request, request.GET)
    try:
        total, exact = export_count(user=request.user, querystring=querystring)
        search_error = ""
    except FormatInvalid as error:
        total, exact, search_error = 0, True, error.message
    if request.method == "POST" and form.is_valid() and not search_error:
        try:
            fmt = export_format_for(principal=request.user, name=form.format_name, template_id=form.template_id)
        except FormatInvalid as error:
            form.add_error("format", error.message)
        else:
            if exact and total <= settings.EXPORTS_DIRECT_MAX:
                chunks, filename = export_direct(request=request, querystring=querystring, fmt=fmt)
                response = StreamingHttpResponse(
                    export.streamed(chunks, asynchronous=isinstance(request, ASGIRequest)),
                    content_type=fmt.content_type)
                response["Content-Disposition"] = export.content_disposition(filename)
                response["Cache-Control"] = "no-store"
                response["X-Content-Type-Options"] = "nosniff"
                return response
            job = export_job_request(request=request, querystring=querystring, format_name=form.format_name,
                                     template_id=form.template_id, expected=total)
            return redirect("exports:job", pk=job.pk)
    return render(request, "exports/export_form.html", {
        "form": form, "qs": querystring, "search_label": unquote_plus(querystring), "total": total, "exact": exact, "search_error": search_error,
        "direct_max": settings.EXPORTS_DIRECT_MAX, "keep_hours": settings.EXPORTS_KEEP_HOURS,
        "jobs": export_job_list(user=request.user)[:10],
    })


@require_GET
@requires(EXPORT_EVENTS)
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    job = export_job_get(user=request.user, pk=pk)
    if job is None:
        raise Http404("no such export")
    template = "exports/job_detail.html"
    if request.htmx and not request.htmx.boosted:
        template += "#status"
    return render(request, template, {"job": job, "keep_hours": settings.EXPORTS_KEEP_HOURS})


@require_GET
@requires(EXPORT_EVENTS)
def job_download(request: HttpRequest, pk) -> HttpResponse:
    job = export_job_get(user=request.user, pk=pk)
    if job is None or job.status != ExportJob.Status.DONE or not job.path or not Path(job.path).exists():
        raise Http404("no such export, or it has expired")
    fmt_type = "application/octet-stream"
    try:
        fmt_type = export_format_for(principal=request.user, name=job.format, template_id=job.template_id).content_type
    except FormatInvalid:
        pass
    response = FileResponse(open(job.path, "rb"), content_type=fmt_type, as_attachment=True, filename=job.filename)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@requires(EXPORT_EVENTS)
def template_list(request: HttpRequest) -> HttpResponse:
    return render(request, "exports/template_list.html", {
        "templates": export_template_list(principal=request.user),
        "may_share": request.user.has_perm(MANAGE_STREAMS),
    })


def _editable(request: HttpRequest, pk):
    """A template the user may change: their own, or a shared one for an administrator."""
    template = export_template_list(principal=request.user).filter(pk=pk).first()
    if template is None:
        raise Http404("no such template")
    if template.owner_id is None and not request.user.has_perm(MANAGE_STREAMS):
        raise Http404("no such template")
    return template


@require_http_methods(["GET", "POST"])
@requires(EXPORT_EVENTS, audit_action="audit.exports.template_create")
def template_edit(request: HttpRequest, pk=None) -> HttpResponse:
    template = _editable(request, pk) if pk is not None else None
    may_share = request.user.has_perm(MANAGE_STREAMS)
    if request.method == "POST":
        form = ExportTemplateForm(request.POST, instance=template, may_share=may_share)
        if form.is_valid():
            shared = form.cleaned_data.get("shared") if may_share else (template is not None and template.owner_id is None)
            saved = export_template_save(request=request, template=template, data=form.cleaned_data,
                                         owner=None if shared else request.user)
            messages.success(request, f"Export template “{saved.name}” saved.")
            return redirect("exports:templates")
    else:
        form = ExportTemplateForm(instance=template, may_share=may_share)
    return render(request, "exports/template_form.html", {"form": form, "template": template})


@require_POST
@requires(EXPORT_EVENTS, audit_action="audit.exports.template_delete")
def template_delete(request: HttpRequest, pk) -> HttpResponse:
    template = _editable(request, pk)
    export_template_delete(request=request, template=template)
    messages.success(request, f"Export template “{template.name}” deleted.")
    return redirect("exports:templates")
