"""The HTTP API under /api/v1/: JSON in and out, bearer tokens, never a 500 for bad input."""
from __future__ import annotations

import base64

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from apps.events import chain, reads, signing
from apps.events.models import Checkpoint
from apps.events.ingest import IngestError, event_ingest, events_from_body
from apps.events.serialize import event_as_json
from apps.rbac.models import ApiToken
from apps.rbac.permissions import token_required

READ_SCOPES = (ApiToken.Scope.READ, ApiToken.Scope.AUDITOR)
MAX_LIMIT = 1000


def _error(status: int, message: str, errors: list[dict] | None = None) -> JsonResponse:
    return JsonResponse({"error": message, "errors": errors or [{"index": None, "field": None, "message": message}]}, status=status)


def _int_param(request: HttpRequest, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise IngestError(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise IngestError(f"{name} must be between {lo} and {hi}")
    return value


def _content_length(request: HttpRequest) -> int:
    # A header that is not a number is the client's mistake, answered with 400, not a 500.
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise IngestError("the Content-Length header is not a number") from None


def _whole_log_refused() -> JsonResponse:
    # The chain spans every project: its length and hashes are not for a project-limited token.
    return _error(403, "chain verification covers the whole log; a project-limited token may not call it")


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
        return _error(error.status, error.message, error.errors)
    return JsonResponse(result.as_dict(), status=202)


@require_GET
@token_required(*READ_SCOPES)
def audit_log_list(request: HttpRequest) -> JsonResponse:
    try:
        limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
        page = reads.event_page(principal=request.api_token, limit=limit, cursor=request.GET.get("cursor") or None)
    except IngestError as error:
        return _error(400, error.message, [{"index": None, "field": "limit", "message": error.message}])
    except reads.BadCursor as error:
        return _error(400, str(error), [{"index": None, "field": "cursor", "message": str(error)}])
    next_page = None
    if page.next_cursor:
        params = request.GET.copy()
        params["cursor"] = page.next_cursor
        next_page = f"{request.path}?{params.urlencode()}"
    return JsonResponse({
        "total_count": page.total,
        "total_count_exact": page.total_is_exact,
        "returned_count": len(page.events),
        "audit_logs": [event_as_json(event) for event in page.events],
        "next_page": next_page,
    })


@require_GET
@token_required(*READ_SCOPES)
def audit_log_detail(request: HttpRequest, event_id: str) -> JsonResponse:
    # An API client gets a JSON 404 like every other API error, not the console's HTML page.
    # Unknown and out-of-scope events answer alike, so the existence of an event is not revealed.
    try:
        event = reads.event_get(principal=request.api_token, event_id=event_id)
    except Http404:
        return _error(404, "no such event")
    return JsonResponse(event_as_json(event))


@require_GET
@token_required(*READ_SCOPES)
def chain_verify(request: HttpRequest) -> JsonResponse:
    if request.api_token.projects:
        return _whole_log_refused()
    try:
        from_seq = _int_param(request, "from_seq", None, 1, 2**62)
        to_seq = _int_param(request, "to_seq", None, 1, 2**62)
    except IngestError as error:
        return _error(400, error.message)
    result = chain.chain_verify(from_seq=from_seq, to_seq=to_seq)
    return JsonResponse(result.as_dict())


@require_GET
@token_required(*READ_SCOPES)
def checkpoint_list(request: HttpRequest) -> JsonResponse:
    """Signed checkpoints and the public key that verifies them, for offline verification."""
    if request.api_token.projects:
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

