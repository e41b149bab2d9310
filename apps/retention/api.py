"""/api/v1/retention/...: policies (read and change) and the vault lock, for tokens whose
user holds the retention permissions. Same rules as the page (policies.policy_check, the
database's lock triggers); errors name the field, in the API's one error shape."""
from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from apps.rbac.audit_trail import Actor
from apps.rbac.permissions import token_required
from apps.rbac.roles import MANAGE_RETENTION, VIEW_RETENTION
from apps.retention.models import RetentionPolicy, VaultLock
from apps.retention.policies import PolicyData, PolicyError, policy_save, vault_lock, vault_unlock


def _error(status: int, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"error": message, "errors": [{"index": None, "field": field, "message": message}]},
                        status=status)


def _allowed(request: HttpRequest, perm: str) -> bool:
    user = request.api_token.user
    return user is not None and user.is_active and user.has_perm(perm)


def policy_json(policy: RetentionPolicy) -> dict:
    return {"id": policy.pk, "name": policy.name, "default": policy.is_default,
            "event_types": list(policy.event_types), **policy.periods(),
            "delete_after_days": policy.delete_after_days}


def _data_from(body: dict, instance: RetentionPolicy | None) -> PolicyData:
    base = policy_json(instance) if instance else {"event_types": [], "hot_days": 30, "warm_days": 90, "cold_months": 18}
    merged = {**base, **body}
    types = merged.get("event_types") or []
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise PolicyError("event_types", "must be a list of event type patterns")
    if "cold_years" in body:
        if not isinstance(body["cold_years"], int) or isinstance(body["cold_years"], bool):
            raise PolicyError("cold_years", "must be a whole number")
        merged["cold_months"] = body["cold_years"] * 12
    for field in ("hot_days", "warm_days", "cold_months"):
        if not isinstance(merged.get(field), int) or isinstance(merged.get(field), bool):
            raise PolicyError(field, "must be a whole number")
    if not isinstance(merged.get("name"), str):
        raise PolicyError("name", "is required")
    return PolicyData(name=merged["name"], event_types=tuple(types), hot_days=merged["hot_days"],
                      warm_days=merged["warm_days"], cold_months=merged["cold_months"])


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise PolicyError(None, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise PolicyError(None, "the body must be a JSON object")
    return body


@require_http_methods(["GET", "POST"])
@token_required("read", audit_action="audit.retention.api_denied")
def policies(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        if not _allowed(request, VIEW_RETENTION):
            return _error(403, f"this token's user does not hold {VIEW_RETENTION}")
        return JsonResponse({"policies": [policy_json(p) for p in RetentionPolicy.objects.all()],
                             "vault_locked": VaultLock.objects.exists()})
    if not _allowed(request, MANAGE_RETENTION):
        return _error(403, f"this token's user does not hold {MANAGE_RETENTION}")
    try:
        policy = policy_save(data=_data_from(_body(request), None), actor=Actor.from_request(request))
    except PolicyError as error:
        return _error(400, str(error), error.field)
    return JsonResponse(policy_json(policy), status=201)


@require_http_methods(["GET", "POST", "PUT", "PATCH"])
@token_required("read", audit_action="audit.retention.api_denied")
def policy_detail(request: HttpRequest, pk: int) -> JsonResponse:
    if not _allowed(request, VIEW_RETENTION if request.method == "GET" else MANAGE_RETENTION):
        return _error(403, "this token's user may not do this")
    policy = RetentionPolicy.objects.filter(pk=pk).first()
    if policy is None:
        return _error(404, f"no retention policy {pk}")
    if request.method == "GET":
        return JsonResponse(policy_json(policy))
    try:
        policy = policy_save(data=_data_from(_body(request), policy), actor=Actor.from_request(request), instance=policy)
    except PolicyError as error:
        return _error(400 if error.field else 409, str(error), error.field)
    return JsonResponse(policy_json(policy))


@require_POST
@token_required("read", audit_action="audit.retention.api_denied")
def unlock(request: HttpRequest) -> JsonResponse:
    """Always refused (409), and the attempt recorded: the vault lock cannot be lifted."""
    if not _allowed(request, MANAGE_RETENTION):
        return _error(403, "this token's user may not do this")
    try:
        vault_unlock(actor=Actor.from_request(request))
    except PolicyError as error:
        return _error(409, str(error))
    return _error(409, "the vault lock cannot be lifted")


@require_http_methods(["GET", "POST", "DELETE"])
@token_required("read", audit_action="audit.retention.api_denied")
def lock(request: HttpRequest) -> JsonResponse:
    if not _allowed(request, VIEW_RETENTION if request.method == "GET" else MANAGE_RETENTION):
        return _error(403, "this token's user may not do this")
    if request.method == "DELETE":
        try:
            vault_unlock(actor=Actor.from_request(request))
        except PolicyError as error:
            return _error(409, str(error))
    if request.method == "POST":
        vault_lock(actor=Actor.from_request(request), reason=str(_safe_body(request).get("reason", ""))[:500])
    existing = VaultLock.objects.first()
    return JsonResponse({"locked": existing is not None,
                         "locked_at": existing.locked_at.isoformat() if existing else None,
                         "locked_by": existing.locked_by if existing else None})


def _safe_body(request: HttpRequest) -> dict:
    try:
        return _body(request)
    except PolicyError:
        return {}


_TRUE = ("1", "true", "yes", "on")


def include_archive_requested(params) -> tuple[bool, object]:
    """Whether a list request asks for archived events too (`include_archive=true`), and its
    parameters without that one (for the search parameters' own validation)."""
    params = params.copy()
    values = params.pop("include_archive", [])
    return bool(values) and values[-1].strip().lower() in _TRUE, params


def audit_log_list_with_archive(request: HttpRequest, search) -> JsonResponse:
    """GET /api/v1/audit-logs?include_archive=true: hot and warm events, archived ones marked.

    Paged by offset (`next_page` carries it); a cursor is refused, naming it."""
    from apps.rbac.audit_trail import audit_record
    from apps.retention.archive_search import archive_page, time_bounds
    from apps.search.serialize import event_as_json

    if search.cursor or search.before:
        field = "cursor" if search.cursor else "before"
        return _error(400, f"{field}: with include_archive, pages are by offset", field)
    start, end = time_bounds(request.GET)
    page = archive_page(principal=request.api_token, condition=search.condition, limit=search.limit,
                        offset=search.offset, order=search.order, start=start, end=end)
    next_page = None
    if search.offset + len(page.events) < page.total:
        params = request.GET.copy()
        params["offset"] = str(search.offset + len(page.events))
        next_page = f"{request.path}?{params.urlencode()}"
    audit_record(request=request, action="audit.api.list", resource_type="event_list",
                 metadata={"query": request.GET.dict(), "returned": len(page.events), "total": page.total,
                           "include_archive": True, "segments_searched": page.segments_searched})
    logs = []
    for event in page.events:
        item = event_as_json(event)
        item["archived"] = event.archived
        logs.append(item)
    return JsonResponse({"total_count": page.total, "total_count_exact": True, "returned_count": len(logs),
                         "audit_logs": logs, "next_page": next_page, "include_archive": True})
