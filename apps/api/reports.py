"""Reports over the HTTP API (seed 004): POST /api/v1/reports, GET /api/v1/reports/<id>, downloads.

A read token tied to a user who may generate reports can call these: a report changes no event,
and it shows exactly what that user may see. A token without a user, or whose user lacks the
permission, is refused (403). Bad input is answered 400 naming the field; nothing is stored.
"""
from __future__ import annotations

import json

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from apps.api.errors import error_response, field_error
from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.models import ApiToken
from apps.rbac.permissions import token_required
from apps.rbac.roles import GENERATE_REPORTS
from apps.reports.access import reports_for_token
from apps.reports.forms import ReportForm
from apps.reports.generation import report_title
from apps.reports.tasks import report_request
from apps.reports.views import file_response

MAX_BODY = 64 * 1024
_KNOWN = {"report_type", "compliance_framework", "framework", "date_range", "include_sections", "sections", "format",
          "include_evidence", "query", "q", "subject", "user", "grouping", "group_by", "metrics", "title", "name"}
# Seed 004 names; the console's own names are accepted too.
_TYPES = {"compliance": "compliance_audit", "compliance_report": "compliance_audit", "access": "access_audit",
          "change": "change_audit", "security": "security_audit", "user": "user_activity"}


def _refusal(request: HttpRequest) -> JsonResponse | None:
    token: ApiToken = request.api_token
    if token.user_id is None or not token.user.is_active:
        message = "reports are made as a user: use a read token issued with --user for someone who may generate reports"
    elif not token.user.has_perm(GENERATE_REPORTS):
        message = f"{token.user.get_username()} may not generate reports"
    else:
        return None
    audit_record(request=request, action="audit.report.request", outcome="denied", status_code=403,
                 metadata={"permission": GENERATE_REPORTS})
    return error_response(403, message)


def _form_data(body: dict) -> tuple[dict, list[dict]]:
    errors = [field_error(key, f"unknown field '{key}'") for key in body if key not in _KNOWN]
    data = {}
    kind = body.get("report_type")
    if kind is not None:
        data["report_type"] = _TYPES.get(str(kind), str(kind))
    framework = body.get("compliance_framework", body.get("framework"))
    if framework:
        data["framework"] = str(framework)
    date_range = body.get("date_range")
    if date_range is not None:
        if not isinstance(date_range, dict):
            errors.append(field_error("date_range", "must be an object with start_date and end_date"))
        else:
            for key in date_range:
                if key not in ("start_date", "end_date"):
                    errors.append(field_error(f"date_range.{key}", f"unknown field '{key}'"))
            data["period"] = "custom"
            data["start"] = str(date_range.get("start_date") or "")
            data["end"] = str(date_range.get("end_date") or "")
    else:
        data["period"] = "last_30d"
    for api_key, form_key in (("include_sections", "sections"), ("sections", "sections"), ("metrics", "metrics")):
        value = body.get(api_key)
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(field_error(api_key, "must be a list of names"))
            else:
                data[form_key] = value
    for api_key, form_key in (("query", "query"), ("q", "query"), ("subject", "subject"), ("user", "subject"),
                              ("grouping", "grouping"), ("group_by", "grouping"), ("title", "title"), ("name", "title"),
                              ("format", "format")):
        value = body.get(api_key)
        if value is not None:
            if not isinstance(value, str):
                errors.append(field_error(api_key, "must be a string"))
            else:
                data[form_key] = value
    if "format" not in data:
        data["format"] = "pdf"
    if body.get("include_evidence") is not None:
        if not isinstance(body["include_evidence"], bool):
            errors.append(field_error("include_evidence", "must be true or false"))
        elif body["include_evidence"]:
            data["include_evidence"] = "on"
    return data, errors


_FIELD_NAMES = {"framework": "compliance_framework", "sections": "include_sections", "start": "date_range.start_date",
                "end": "date_range.end_date", "period": "date_range", "subject": "subject", "__all__": None}


@require_http_methods(["POST"])
@token_required(ApiToken.Scope.READ, audit_action="audit.report.request")
def report_create(request: HttpRequest) -> JsonResponse:
    refused = _refusal(request)
    if refused:
        return refused
    if len(request.body) > MAX_BODY:
        return error_response(413, f"the body is over {MAX_BODY // 1024} KiB")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as error:
        return error_response(400, f"the body is not JSON: {error}")
    if not isinstance(body, dict):
        return error_response(400, "the body must be a JSON object")
    data, errors = _form_data(body)
    form = ReportForm(data, user=request.api_token.user)
    if not form.is_valid():
        for field, messages in form.errors.items():
            name = _FIELD_NAMES.get(field, field)
            errors += [field_error(name, str(m)) for m in messages]
    if errors:
        return error_response(400, "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors),
                      errors)
    report = report_request(actor=Actor.from_request(request), principal=request.api_token, data=form.cleaned_data)
    return JsonResponse(_report_json(report), status=202)


@require_GET
@token_required(ApiToken.Scope.READ, audit_action="audit.report.view")
def report_status(request: HttpRequest, pk) -> JsonResponse:
    refused = _refusal(request)
    if refused:
        return refused
    report = reports_for_token(request.api_token).filter(pk=pk).first()
    if report is None:
        return error_response(404, "no such report (a token sees the reports it asked for)")
    return JsonResponse(_report_json(report))


@require_GET
@token_required(ApiToken.Scope.READ, audit_action="audit.report.download")
def report_file(request: HttpRequest, pk, kind: str):
    refused = _refusal(request)
    if refused:
        return refused
    report = reports_for_token(request.api_token).filter(pk=pk).first()
    if report is None:
        return error_response(404, "no such report (a token sees the reports it asked for)")
    try:
        return file_response(report, kind, actor=Actor.from_request(request))
    except Http404 as error:
        return error_response(404, str(error))


def _report_json(report) -> dict:
    files = {f.kind: f for f in report.files.all()}
    body = {
        "id": str(report.pk), "status": report.status, "progress": report.progress, "stage": report.stage,
        "title": report_title(report), "report_type": report.report_type,
        "compliance_framework": report.framework.key if report.framework_id else None,
        "date_range": {"start_date": report.period_start.isoformat(), "end_date": report.period_end.isoformat()},
        "format": report.format, "include_evidence": report.include_evidence,
        "created_at": report.created_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "error": report.error or None,
    }
    if "report" in files:
        body["download_url"] = reverse("api:report-file", args=[report.pk, "report"])
        body["sha256"] = files["report"].sha256
    if "evidence" in files:
        body["evidence_url"] = reverse("api:report-file", args=[report.pk, "evidence"])
        body["evidence_sha256"] = files["evidence"].sha256
    if report.figures:
        body["summary"] = {"events": report.figures["summary"]["figures"]["events"],
                           "verified": report.figures["verification"].get("verified")}
    return body
