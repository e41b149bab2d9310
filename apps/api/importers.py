"""POST /api/v1/import/<format>: a file of another system's audit log, imported by an ingest token.

The body is the file as it is (JSON, JSON Lines, a CloudTrail `{"Records": [...]}` file, CSV
for formats that come as CSV; gzip or not, told from its first bytes). `format` is one of the
registry's names or `auto`. The answer is the import's summary: 202 when the body was read
(records refused one by one, and a file read only in part, are listed in `problems`; the rest
is stored), 400 when nothing of it could be read.
"""
from __future__ import annotations

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from apps.importers.formats import FORMATS, format_get
from apps.importers.run import import_run
from apps.rbac.models import ApiToken
from apps.rbac.permissions import token_required

BODY_NAME = "request body"
MAX_PROJECT = 200
# A gzip body may hold this many times its own size once decompressed, and no more.
MAX_EXPANSION = 10


def _error(status: int, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"error": message, "errors": [{"index": None, "field": field, "message": message}]}, status=status)


@require_POST
@token_required(ApiToken.Scope.INGEST)
def import_file(request: HttpRequest, format: str) -> JsonResponse:
    if format != "auto" and format_get(format) is None:
        return _error(400, f"format '{format[:40]}' is not one of: auto, {', '.join(FORMATS)}", "format")
    project = request.GET.get("project", "").strip()
    if len(project) > MAX_PROJECT or "\x00" in project:
        return _error(400, f"project must be at most {MAX_PROJECT} characters of text", "project")
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "the Content-Length header is not a number")
    if declared > limit:
        return _error(413, f"the body is larger than {limit // (1024 * 1024)} MiB; use manage.py import_events for large files")
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, f"the body is larger than {limit // (1024 * 1024)} MiB; use manage.py import_events for large files")
    if not body.strip():
        return _error(400, "the body is empty: send the file to import as the request body")
    summary = import_run([(BODY_NAME, io.BytesIO(body))], format=format, project=project,
                         projects=request.api_token.projects, request=request, max_bytes=MAX_EXPANSION * limit)
    # 400 when nothing of the body could be taken; a body read in part (JSON Lines cut short, too
    # large once decompressed) is 202 with what was stored and the problem in `problems`.
    status = 400 if summary.unreadable and not (summary.imported or summary.duplicates) else 202
    answer = summary.as_dict()
    if status == 400:
        answer["error"] = str(summary.unreadable[0])
        answer["errors"] = [{"index": None, "field": None, "message": str(p)} for p in summary.unreadable]
    return JsonResponse(answer, status=status)
