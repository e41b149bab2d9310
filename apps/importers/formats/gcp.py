"""GCP Cloud Audit Logs: LogEntry objects whose `protoPayload` is an AuditLog (Admin Activity,
Data Access, System Event, Policy Denied), as `gcloud logging read --format=json` writes
them (a JSON array), one per line, or single; and the BigQuery export's
`protopayload_auditlog` rows.

Action: the service's prefix and the method's last two
parts without versions (`iam.googleapis.com` + `google.iam.admin.v1.SetIAMPolicy` →
`iam.admin.set_iam_policy`, `google.storage.objects.get` → `storage.objects.get`); actor from
`authenticationInfo.principalEmail`; IP and user agent from `requestMetadata`; outcome from
`status.code` (7 PERMISSION_DENIED and 16 UNAUTHENTICATED are denied, others failures), or
`authorizationInfo[].granted: false` as denied; a Workspace login's failure from its method
name. `serviceData.policyDelta` (or `metadata.datasetChange.bindingDeltas`) becomes
`changes`: `{"before": {"bindings": [removed]}, "after": {"bindings": [added]}}`.
"""
from __future__ import annotations

import json
import re

from apps.importers.formats.base import Refused, action_part, dig, event_id, ip_or_none, sentence, text

NAME = "gcp"
LABEL = "GCP Cloud Audit Logs"
HINT = "LogEntry objects with an AuditLog protoPayload (gcloud logging read --format=json, or one per line)"

_DENIED_CODES = {7, 16}
_SEVERITIES = {"DEFAULT": "info", "DEBUG": "info", "INFO": "info", "NOTICE": "low", "WARNING": "medium",
               "ERROR": "high", "CRITICAL": "critical", "ALERT": "critical", "EMERGENCY": "critical"}
_CATEGORIES = {
    "iam": "iam", "iamcredentials": "iam", "cloudresourcemanager": "iam", "admin": "iam", "login": "auth",
    "iap": "authz", "compute": "compute", "container": "compute", "run": "compute", "cloudfunctions": "compute",
    "aiplatform": "compute", "storage": "storage", "bigquery": "data", "sqladmin": "data",
    "cloudkms": "security", "secretmanager": "security", "logging": "security", "dns": "network",
}


def _payload(record: dict):
    payload = record.get("protoPayload")
    if isinstance(payload, dict):
        return payload, "protoPayload"
    payload = record.get("protopayload_auditlog")
    if isinstance(payload, dict):
        return payload, "protopayload_auditlog"
    return None, None


def records(document) -> list | None:
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        return document["entries"]  # entries.list's response
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    return None


def looks_like(record) -> bool:
    if not isinstance(record, dict):
        return False
    payload, _ = _payload(record)
    return payload is not None and ("methodName" in payload or "serviceName" in payload)


def event_from(record: dict) -> dict:
    payload, _ = _payload(record)
    if payload is None:
        raise Refused("protoPayload is missing: not a Cloud Audit Log entry")
    method, service = text(payload.get("methodName")), text(payload.get("serviceName"))
    if not method:
        raise Refused("protoPayload.methodName is missing")
    if not record.get("timestamp"):
        raise Refused("timestamp is missing")
    prefix = action_part(service.split(".", 1)[0]) if service else "gcp"
    outcome = _outcome(payload, method)
    email = text(dig(payload, "authenticationInfo", "principalEmail"))
    labels = dig(record, "resource", "labels") or {}
    resource_name = text(payload.get("resourceName"))
    status_message = text(dig(payload, "status", "message"))
    return {
        "event_id": event_id("gcp", record.get("insertId"), record),
        "timestamp": record.get("timestamp"),
        "action": _action(prefix, method),
        "category": _CATEGORIES.get(prefix, "system"),
        "outcome": outcome,
        "severity": _SEVERITIES.get(text(record.get("severity")).upper(), "info"),
        "actor_type": "service" if email.endswith(".gserviceaccount.com") else "user" if email else "system",
        "actor_id": text(dig(payload, "authenticationInfo", "principalSubject")) or email,
        "actor_name": email,
        "actor_email": email if "@" in email else "",
        "ip_address": ip_or_none(dig(payload, "requestMetadata", "callerIp")),
        "user_agent": text(dig(payload, "requestMetadata", "callerSuppliedUserAgent")),
        "resource_type": text(dig(record, "resource", "type")),
        "resource_id": resource_name,
        "resource_name": resource_name.rsplit("/", 1)[-1],
        "project": text(labels.get("project_id")) if isinstance(labels, dict) else "",
        "region": text(labels.get("location") or labels.get("region") or labels.get("zone")) if isinstance(labels, dict) else "",
        "trace_id": text(record.get("trace")),
        "request_id": text(dig(record, "operation", "id")),
        "changes": _changes(payload),
        "description": sentence(email or "someone", "called", method, "on", resource_name,
                                f"({status_message})" if status_message else ""),
        "tags": ["import:gcp"],
        "metadata": record,
    }


_VERSION = re.compile(r"v\d+((alpha|beta)\d*)?", re.I)


def _action(prefix: str, method: str) -> str:
    """`google.storage.objects.get` → `storage.objects.get`, `google.iam.admin.v1.SetIAMPolicy` →
    `iam.admin.set_iam_policy`: the service, then the method's last two parts without versions."""
    parts = [p for p in method.split(".") if p and p not in ("google", "cloud") and not _VERSION.fullmatch(p)]
    tail = parts[-2:]
    if len(tail) == 2 and action_part(tail[0]) == prefix:
        tail = tail[1:]
    return ".".join([prefix, *(action_part(p) for p in tail)])


def _outcome(payload: dict, method: str) -> str:
    code = dig(payload, "status", "code")
    if isinstance(code, int) and code != 0:
        return "denied" if code in _DENIED_CODES else "failure"
    infos = payload.get("authorizationInfo")
    if isinstance(infos, list) and any(isinstance(i, dict) and i.get("granted") is False for i in infos):
        return "denied"
    if method.endswith("loginFailure"):
        return "failure"
    return "success"


def _changes(payload: dict) -> dict | None:
    deltas = dig(payload, "serviceData", "policyDelta", "bindingDeltas") or dig(payload, "metadata", "datasetChange", "bindingDeltas")
    if deltas is None and isinstance(payload.get("servicedata_v1_iam"), (dict, str)):
        data = payload["servicedata_v1_iam"]
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = {}
        deltas = dig(data, "policyDelta", "bindingDeltas")
    if not isinstance(deltas, list) or not deltas:
        return None
    added = [{"role": d.get("role"), "member": d.get("member")} for d in deltas if isinstance(d, dict) and d.get("action") == "ADD"]
    removed = [{"role": d.get("role"), "member": d.get("member")} for d in deltas if isinstance(d, dict) and d.get("action") == "REMOVE"]
    return {"before": {"bindings": removed}, "after": {"bindings": added}}
