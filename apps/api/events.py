"""The HTTP API under /api/v1/: JSON in and out, bearer tokens, never a 500 for bad input."""
from __future__ import annotations

import base64
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.events import chain, chain_verification, signing
from apps.search import export, reads
from apps.search import cursors
from apps.api.errors import error_response, field_error, int_param
from apps.events.canonical import MAX_SAFE_INTEGER
from apps.events.models import Checkpoint
from apps.events.ingest import IngestError, event_ingest, events_from_body
from apps.api.openapi import openapi_document
from apps.search.bodies import search_from_body
from apps.search.params import Search, SearchInvalid, search_from_params
from apps.search.cursors import cursor_encode
from apps.search.serialize import event_as_json
from apps.exports.formats import FormatInvalid, export_format_for
from apps.rbac.audit_trail import audit_record
from apps.rbac.models import ApiToken
from apps.rbac.permissions import public, token_required
from apps.rbac.scoping import event_scope
from apps.retention.api import audit_log_list_with_archive, include_archive_requested

READ_SCOPES = (ApiToken.Scope.READ, ApiToken.Scope.AUDITOR)
MAX_LIMIT = 1000
# Search and export bodies are a query and some filters; anything larger is a mistake.
MAX_SEARCH_BODY = 1024 * 1024
# The request body is kept in the audit trail's metadata up to this size.
_AUDITED_BODY = 4096


def _content_length(request: HttpRequest) -> int:
    # A header that is not a number is the client's mistake, answered with 400, not a 500.
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise IngestError("the Content-Length header is not a number") from None


def _sees_part_of_the_log(token: ApiToken) -> bool:
    """Whether the token sees less than the whole log: limited to projects, to a window, or
    acting for a user whose role sees part of it (an empty scope condition is the whole log)."""
    return bool(event_scope(token))


def _whole_log_refused() -> JsonResponse:
    # The chain spans every event: its length and hashes are not for a token that sees only part.
    return error_response(403, "chain verification covers the whole log; a project-limited token, or one that sees "
                               "only part of the log (a window, its user's scope), may not call it")


@require_POST
@token_required(ApiToken.Scope.INGEST)
def events_ingest(request: HttpRequest) -> JsonResponse:
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        if _content_length(request) > limit:
            raise IngestError(f"the body is larger than {limit // (1024 * 1024)} MiB", status=413)
        try:
            body = request.body
        except RequestDataTooBig:
            raise IngestError(f"the body is larger than {limit // (1024 * 1024)} MiB", status=413) from None
        headers = {key.lower(): value for key, value in request.headers.items()}
        raw_events = events_from_body(body, request.content_type, headers)
        result = event_ingest(raw_events, projects=request.api_token.projects)
    except IngestError as error:
        return error_response(error.status, error.message, error.errors)
    return JsonResponse(result.as_dict(), status=202)


@require_GET
@token_required(*READ_SCOPES, audit_action="audit.api.list")
def audit_log_list(request: HttpRequest) -> JsonResponse:
    """The filters of apps.search.params (the viewer's parameters), newest first, keyset pages.
    With `include_archive=true`, warm (archived) events too, marked (apps.retention.api)."""
    include_archive, params = include_archive_requested(request.GET)
    try:
        search = search_from_params(params, now=timezone.now())
        if include_archive:
            return audit_log_list_with_archive(request, search)
        page = reads.event_page(principal=request.api_token, **_page_args(search))
    except SearchInvalid as invalid:
        return error_response(400, invalid.message, invalid.errors)
    except cursors.BadCursor as error:
        return _bad_cursor(search, error)
    next_page = None
    if page.next_cursor:
        params = request.GET.copy()
        for name in ("offset", "before"):
            params.pop(name, None)
        params["cursor"] = cursor_encode(page.next_cursor, order=search.order, page=search.page + 1)
        next_page = f"{request.path}?{params.urlencode()}"
    audit_record(request=request, action="audit.api.list", resource_type="event_list",
                 metadata={"query": request.GET.dict(), "returned": len(page.events), "total": page.total})
    return JsonResponse({
        "total_count": page.total,
        "total_count_exact": page.total_is_exact,
        "returned_count": len(page.events),
        "audit_logs": [event_as_json(event) for event in page.events],
        "next_page": next_page,
    })


def _page_args(search: Search) -> dict:
    return {"limit": search.limit, "cursor": search.cursor, "before": search.before, "filters": search.condition,
            "order": search.order, "offset": search.offset}


def _bad_cursor(search: Search, error: cursors.BadCursor) -> JsonResponse:
    field = "before" if search.before else "cursor"
    return error_response(400, str(error), [field_error(field, str(error))])


def _search_body(request: HttpRequest):
    """The JSON body of a search or export; an empty body is an empty object."""
    try:
        too_big = int(request.META.get("CONTENT_LENGTH") or 0) > MAX_SEARCH_BODY
    except ValueError:
        raise SearchInvalid([field_error(None, "the Content-Length header is not a number")]) from None
    try:
        raw = b"" if too_big else request.body
    except RequestDataTooBig:
        too_big = True
    if too_big:
        raise SearchInvalid([field_error(None, "the body is larger than 1 MiB")])
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SearchInvalid([field_error(None, f"the body is not JSON: {error}")]) from None


def _audited_body(body) -> dict:
    text = json.dumps(body, ensure_ascii=False, default=str)
    return {"body": body} if len(text) <= _AUDITED_BODY else {"body_truncated": text[:_AUDITED_BODY]}


@require_POST
@token_required(*READ_SCOPES, audit_action="audit.api.search")
def audit_log_search(request: HttpRequest) -> JsonResponse:
    """Seed 001's and seed 004's search bodies; seed 004's answer, each event verified in its chain."""
    try:
        body = _search_body(request)
        search = search_from_body(body, now=timezone.now())
        page = reads.event_page(principal=request.api_token, **_page_args(search))
    except SearchInvalid as invalid:
        return error_response(400, invalid.message, invalid.errors)
    except cursors.BadCursor as error:
        return _bad_cursor(search, error)
    verified = chain_verification.events_verified(page.events)
    logs = []
    for event in page.events:
        log = event_as_json(event)
        log["verification"]["verified"] = verified[event.seq]
        if not search.include_details:
            for name in ("changes", "metadata", "user_agent"):
                log.pop(name, None)
        logs.append(log)
    audit_record(request=request, action="audit.api.search", resource_type="event_list",
                 metadata={**_audited_body(body), "returned": len(logs), "total": page.total})
    return JsonResponse({
        "total_count": page.total,
        "total_count_exact": page.total_is_exact,
        "returned_count": len(logs),
        "page": search.page,
        "audit_logs": logs,
        "next_page": cursor_encode(page.next_cursor, order=search.order, page=search.page + 1) if page.next_cursor else None,
    })


@require_POST
@token_required(*READ_SCOPES, audit_action="audit.api.export")
def audit_log_export(request: HttpRequest) -> JsonResponse | StreamingHttpResponse:
    """Every matching event (not a page), streamed in a format of apps.search.formats
    (CSV, JSON, JSON Lines, CEF, LEEF, syslog, Parquet, OCSF) or a stored template."""
    token = request.api_token
    if not export.can_export(token):
        audit_record(request=request, action="audit.api.export", outcome="denied", status_code=403,
                     metadata={"reason": "the token's user lacks rbac.export_events"})
        return error_response(403, "exporting raw events needs the export permission, which this token's user does not hold")
    try:
        body = _search_body(request)
        search = search_from_body(body, now=timezone.now(), export=True)
    except SearchInvalid as invalid:
        return error_response(400, invalid.message, invalid.errors)
    try:
        fmt = export_format_for(principal=token, name=search.format, template_id=search.template)
    except FormatInvalid as invalid:
        return error_response(400, invalid.message, [field_error(invalid.field, invalid.message)])
    filename = export.export_filename(fmt=fmt, start=search.start, end=search.end, query=search.query,
                                      now=timezone.now())
    audit_record(request=request, action="audit.api.export", resource_type="event_export", resource_name=filename,
                 metadata={**_audited_body(body), "format": fmt.name, "order": search.order})
    chunks = export.export_chunks(fmt, principal=token, filters=search.condition, order=search.order)
    response = StreamingHttpResponse(
        export.streamed(chunks, asynchronous=isinstance(request, ASGIRequest)),
        content_type=fmt.content_type,
    )
    response["Content-Disposition"] = export.content_disposition(filename)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@public
def openapi_json(request: HttpRequest) -> JsonResponse:
    """The OpenAPI 3.1 document of /api/v1/. Public: it describes the API and holds no data."""
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 2})


@require_GET
@token_required(*READ_SCOPES, audit_action="audit.api.view")
def audit_log_detail(request: HttpRequest, event_id: str) -> JsonResponse:
    # An API client gets a JSON 404 like every other API error, not the console's HTML page.
    # Unknown and out-of-scope events answer alike, so the existence of an event is not revealed.
    try:
        event = reads.event_get(principal=request.api_token, event_id=event_id)
    except Http404:
        audit_record(request=request, action="audit.api.view", outcome="denied", status_code=404,
                     resource_type="event", resource_id=event_id[:200])
        return error_response(404, "no such event")
    audit_record(request=request, action="audit.api.view", resource_type="event", resource_id=event.event_id,
                 resource_name=event.action, metadata={"seq": event.seq, "event_project": event.project})
    return JsonResponse(event_as_json(event))


@require_GET
@token_required(*READ_SCOPES, audit_action="audit.api.verify")
def chain_verify(request: HttpRequest) -> JsonResponse:
    if _sees_part_of_the_log(request.api_token):
        audit_record(request=request, action="audit.api.verify", outcome="denied", status_code=403,
                     metadata={"reason": "the token sees only part of the log"})
        return _whole_log_refused()
    try:
        # Bounded by what JSON carries exactly (2^53 - 1): the answer and its audit record echo them.
        from_seq = int_param(request.GET.get("from_seq"), "from_seq", None, 1, MAX_SAFE_INTEGER)
        to_seq = int_param(request.GET.get("to_seq"), "to_seq", None, 1, MAX_SAFE_INTEGER)
    except SearchInvalid as invalid:
        return error_response(400, invalid.message, invalid.errors)
    result = chain_verification.chain_verify(from_seq=from_seq, to_seq=to_seq)
    audit_record(request=request, action="audit.api.verify", resource_type="chain",
                 metadata={"from_seq": from_seq, "to_seq": to_seq, "valid": result.valid,
                           "first_bad_seq": result.first_bad_seq, "checked": result.checked})
    return JsonResponse(result.as_dict())


@require_GET
@token_required(*READ_SCOPES)
def checkpoint_list(request: HttpRequest) -> JsonResponse:
    """Signed checkpoints and the public key that verifies them, for offline verification."""
    if _sees_part_of_the_log(request.api_token):
        return _whole_log_refused()
    checkpoints = Checkpoint.objects.order_by("-seq")[:1000]
    return JsonResponse({
        "public_key_pem": signing.public_key_pem(),
        "key_id": signing.key_id(),
        "message_format": "RFC 8785 JSON of {seq, hash, event_count, created_at, key_id}",
        "checkpoints": [
            {
                "seq": cp.seq,
                "hash": chain.hash_label(cp.hash),
                "event_count": cp.event_count,
                "created_at": chain.format_time(cp.created_at),
                "key_id": cp.key_id,
                "reason": cp.reason,
                "signature": base64.b64encode(bytes(cp.signature)).decode(),
            }
            for cp in checkpoints
        ],
    })

