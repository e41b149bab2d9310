"""How views declare who may call them.

Every URL's view carries one of these declarations (tests/test_architecture.py checks it):
- `requires(perm)`: a signed-in console user holding `perm` (403 otherwise, recorded in the
  console's audit trail); permissions come from the user's roles (apps.rbac.roles);
- `public`: reachable without signing in (the sign-in page, health checks);
- `token_required(*scopes)`: the HTTP API, authenticated by a bearer token of one of the
  scopes (401 without a usable token, 403 with a token of another scope).
"""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.events.errors import error_body
from apps.rbac.audit_trail import audit_record
from apps.rbac.tokens import token_authenticate


def requires(perm: str, *, audit_action: str = "audit.access.denied"):
    """A signed-in user holding `perm`; anyone else gets 403, recorded in the audit trail.

    `audit_action` names the refused attempt in the trail (`audit.events.list`, `rbac.role.assign`).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.has_perm(perm):
                audit_record(request=request, action=audit_action, outcome="denied", status_code=403,
                             description=f"{request.user.get_username()} was refused {request.path}: needs {perm}",
                             metadata={"permission": perm})
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_permission = perm
        return wrapper

    return decorator


def public(view):
    view = login_not_required(view)
    view.required_permission = "public"
    return view


def token_required(*scopes: str, audit_action: str = "audit.api.denied"):
    def decorator(view):
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            header = request.headers.get("Authorization", "")
            kind, _, secret = header.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                return _api_error(401, "missing bearer token: send `Authorization: Bearer <token>`")
            token = token_authenticate(secret.strip())
            if token is None:
                return _api_error(401, "the token is unknown, revoked or expired")
            if token.scope not in scopes:
                request.api_token = token
                audit_record(request=request, action=audit_action, outcome="denied", status_code=403,
                             metadata={"token_scope": token.scope, "scopes_needed": list(scopes)})
                return _api_error(403, f"this token's scope is '{token.scope}'; this call needs {' or '.join(scopes)}")
            request.api_token = token
            return view(request, *args, **kwargs)

        wrapper.required_permission = "token:" + ",".join(scopes)
        return wrapper

    return decorator


def _api_error(status: int, message: str) -> JsonResponse:
    response = JsonResponse(error_body(message), status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="audit-console"'
    return response
