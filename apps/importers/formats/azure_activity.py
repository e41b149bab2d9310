"""Azure Activity Log: `{"records": [...]}` as diagnostic settings write it to storage or Event
Hubs, and the REST API / portal export shape (`operationName.value`, `status.value`, ...).

Action: `azure.` and the operation in lower case (`MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE` →
`azure.microsoft.compute/virtualmachines/write`); actor from the identity claims (UPN, else
the caller, else the app id); outcome from `resultType`/`status` (Success, Failure, and
authorisation failures as denied); resource from `resourceId`; project is the subscription.
"""
from __future__ import annotations

from apps.importers.formats.base import Refused, dig, event_id, ip_or_none, sentence, text

NAME = "azure_activity"
LABEL = "Azure Activity Log"
HINT = 'diagnostic-settings exports ({"records": [...]}) or the REST API / portal JSON'

_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
_ENTRA = {"auditlogs", "signinlogs", "noninteractiveusersigninlogs", "serviceprincipalsigninlogs",
          "managedidentitysigninlogs", "provisioninglogs"}
_CATEGORIES = {"administrative": "config", "security": "security", "policy": "authz", "servicehealth": "system",
               "alert": "security", "recommendation": "config", "autoscale": "compute", "resourcehealth": "system"}
_LEVELS = {"critical": "critical", "error": "high", "warning": "medium", "informational": "info", "information": "info"}


def _value(field):
    """Azure's REST shape wraps names as {"value": ..., "localizedValue": ...}."""
    return field.get("value") if isinstance(field, dict) else field


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


def looks_like(record) -> bool:
    if not isinstance(record, dict) or "operationName" not in record:
        return False
    category = str(_value(record.get("category")) or "").lower()
    return category not in _ENTRA and ("resourceId" in record or "eventDataId" in record) \
        and "microsoft.aadiam" not in str(record.get("resourceId", "")).lower()


def event_from(record: dict) -> dict:
    operation = text(_value(record.get("operationName")))
    if not operation:
        raise Refused("operationName is missing: not an Azure Activity Log record")
    when = record.get("time") or record.get("eventTimestamp")
    if not when:
        raise Refused("time (or eventTimestamp) is missing")
    claims = dig(record, "identity", "claims") or record.get("claims") or {}
    claims = claims if isinstance(claims, dict) else {}
    upn = text(claims.get(_UPN) or claims.get("upn"))
    caller = text(record.get("caller"))
    actor = upn or caller or text(claims.get("appid"))
    result = text(record.get("resultType") or _value(record.get("status"))).lower()
    sub_status = text(record.get("resultSignature") or _value(record.get("subStatus"))).lower()
    if "forbidden" in sub_status or "unauthorized" in sub_status or "denied" in result:
        outcome = "denied"
    elif result in ("success", "succeeded", "accept", "accepted", "active", "resolved", "started", "start"):
        outcome = "success"
    elif result in ("failure", "failed"):
        outcome = "failure"
    else:
        outcome = "unknown"
    resource_id = text(record.get("resourceId"))
    parts = resource_id.strip("/").split("/")
    subscription = parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else text(record.get("subscriptionId"))
    category = text(_value(record.get("category"))).lower()
    level = text(record.get("level") or _value(record.get("level"))).lower()
    return {
        "event_id": event_id("azure", record.get("eventDataId") or record.get("correlationId"), record),
        "timestamp": when,
        "action": "azure." + operation.lower().replace(" ", "_"),
        "category": _CATEGORIES.get(category, "config"),
        "outcome": outcome,
        "severity": _LEVELS.get(level, "info"),
        "actor_type": "user" if "@" in actor else "service" if actor else "system",
        "actor_id": text(claims.get("http://schemas.microsoft.com/identity/claims/objectidentifier")) or actor,
        "actor_name": text(claims.get(_NAME)) or actor,
        "actor_email": actor if "@" in actor else "",
        "ip_address": ip_or_none(record.get("callerIpAddress") or dig(record, "httpRequest", "clientIpAddress")),
        "resource_type": "/".join(parts[-2:-1]).lower() if len(parts) > 2 else "",
        "resource_id": resource_id,
        "resource_name": parts[-1] if parts and parts[-1] else "",
        "project": subscription,
        "region": text(record.get("location")),
        "request_id": text(record.get("correlationId")),
        "description": sentence(actor or "someone", operation, resource_id, f"({result})" if result else ""),
        "tags": ["import:azure_activity"],
        "metadata": record,
    }
