"""Microsoft Entra ID (Azure AD) audit and sign-in logs: diagnostic-settings exports
(`{"records": [...]}` with category AuditLogs or SignInLogs and the entry in `properties`) and
the Microsoft Graph shapes (`directoryAudit`, `signIn`; a `{"value": [...]}` page or one per line).

Audit: action `entra.<category>.<activity>` (`RoleManagement` + `Add member to role` →
`entra.role_management.add_member_to_role`), actor from `initiatedBy.user` (UPN) or
`initiatedBy.app`, outcome from `result`, the first target resource as the resource, and a
target's `modifiedProperties` as changes. Sign-in: action `entra.sign_in` (interactive) or
`entra.sign_in.non_interactive`, outcome from `status.errorCode` (0 success; 50053, 50057,
53003 and other blocks denied; the rest failures), MFA from `authenticationRequirement`.
"""
from __future__ import annotations

from apps.importers.formats.base import Refused, action_part, dig, event_id, ip_or_none, sentence, text

NAME = "entra"
LABEL = "Microsoft Entra ID audit and sign-in logs"
HINT = 'diagnostic-settings exports (category AuditLogs or SignInLogs) or Microsoft Graph directoryAudits / signIns JSON'

_SIGN_IN = {"signinlogs", "noninteractiveusersigninlogs", "serviceprincipalsigninlogs", "managedidentitysigninlogs"}
# Sign-in error codes that mean the sign-in was blocked by policy rather than failed.
_BLOCKED = {50053, 50057, 53000, 53001, 53002, 53003, 530032, 50097, 50105, 50131, 500121}


def records(document) -> list | None:
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        return document["records"]
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        return document["value"]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    return None


def _entry(record: dict) -> tuple[dict, str]:
    """The entry (Graph shape) and its kind: "audit" or "signin"."""
    category = str(record.get("category", "")).lower()
    if isinstance(record.get("properties"), dict) and (category == "auditlogs" or category in _SIGN_IN):
        return record["properties"], "signin" if category in _SIGN_IN else "audit"
    if "activityDisplayName" in record and "initiatedBy" in record:
        return record, "audit"
    if "createdDateTime" in record and "userPrincipalName" in record and "status" in record:
        return record, "signin"
    return {}, ""


def looks_like(record) -> bool:
    return isinstance(record, dict) and bool(_entry(record)[1])


def event_from(record: dict) -> dict:
    entry, kind = _entry(record)
    if not kind:
        raise Refused("not an Entra ID audit or sign-in entry (no AuditLogs/SignInLogs category, no Graph shape)")
    return (_audit if kind == "audit" else _sign_in)(record, entry)


def _audit(record: dict, entry: dict) -> dict:
    activity = text(entry.get("activityDisplayName") or record.get("operationName"))
    if not activity:
        raise Refused("activityDisplayName is missing")
    when = entry.get("activityDateTime") or record.get("time")
    if not when:
        raise Refused("activityDateTime is missing")
    user = dig(entry, "initiatedBy", "user") or {}
    app = dig(entry, "initiatedBy", "app") or {}
    upn = text(user.get("userPrincipalName"))
    targets = [t for t in entry.get("targetResources") or [] if isinstance(t, dict)]
    target = targets[0] if targets else {}
    result = text(entry.get("result")).lower()
    changes = _changes(target)
    return {
        "event_id": event_id("entra", entry.get("id"), record),
        "timestamp": when,
        "action": ".".join(("entra", action_part(entry.get("category") or "directory"), action_part(activity))),
        "category": "iam",
        "outcome": {"success": "success", "failure": "failure", "timeout": "error"}.get(result, "unknown"),
        "severity": "info",
        "actor_type": "user" if upn or user.get("id") else "service" if app else "system",
        "actor_id": text(user.get("id") or app.get("servicePrincipalId") or app.get("appId")),
        "actor_name": text(user.get("displayName")) or upn or text(app.get("displayName")),
        "actor_email": upn if "@" in upn else "",
        "ip_address": ip_or_none(user.get("ipAddress") or record.get("callerIpAddress")),
        "resource_type": text(target.get("type")),
        "resource_id": text(target.get("id")),
        "resource_name": text(target.get("userPrincipalName") or target.get("displayName")),
        "project": text(record.get("tenantId")),
        "request_id": text(entry.get("correlationId") or record.get("correlationId")),
        "changes": changes,
        "description": sentence(upn or text(app.get("displayName")) or "someone", activity,
                                text(target.get("userPrincipalName") or target.get("displayName"))),
        "tags": ["import:entra"],
        "metadata": record,
    }


def _changes(target: dict) -> dict | None:
    modified = [m for m in target.get("modifiedProperties") or [] if isinstance(m, dict) and m.get("displayName")]
    if not modified:
        return None
    return {"before": {m["displayName"]: m.get("oldValue") for m in modified},
            "after": {m["displayName"]: m.get("newValue") for m in modified}}


def _sign_in(record: dict, entry: dict) -> dict:
    when = entry.get("createdDateTime") or record.get("time")
    if not when:
        raise Refused("createdDateTime is missing")
    code = dig(entry, "status", "errorCode")
    try:
        code = int(code) if code not in (None, "") else None
    except (TypeError, ValueError):
        code = None
    outcome = "unknown" if code is None else "success" if code == 0 else "denied" if code in _BLOCKED else "failure"
    upn = text(entry.get("userPrincipalName"))
    interactive = entry.get("isInteractive")
    requirement = text(entry.get("authenticationRequirement")).lower()
    return {
        "event_id": event_id("entra", entry.get("id"), record),
        "timestamp": when,
        "action": "entra.sign_in" if interactive is not False else "entra.sign_in.non_interactive",
        "category": "auth",
        "outcome": outcome,
        "severity": "low" if outcome in ("failure", "denied") else "info",
        "actor_type": "user",
        "actor_id": text(entry.get("userId")) or upn,
        "actor_name": text(entry.get("userDisplayName")) or upn,
        "actor_email": upn if "@" in upn else "",
        "auth_method": "mfa" if "multifactor" in requirement else "password" if requirement else "",
        "ip_address": ip_or_none(entry.get("ipAddress") or record.get("callerIpAddress")),
        "user_agent": text(entry.get("userAgent")),
        "resource_type": "application",
        "resource_id": text(entry.get("appId")),
        "resource_name": text(entry.get("appDisplayName")),
        "project": text(record.get("tenantId")),
        "region": text(dig(entry, "location", "countryOrRegion")),
        "request_id": text(entry.get("correlationId") or record.get("correlationId")),
        "session_id": text(entry.get("sessionId")),
        "description": sentence(upn or "someone", "signed in to", text(entry.get("appDisplayName")),
                                f"(error {code}: {text(dig(entry, 'status', 'failureReason'))})" if code else ""),
        "tags": ["import:entra"],
        "metadata": record,
    }
