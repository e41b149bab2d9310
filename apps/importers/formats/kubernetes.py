"""Kubernetes audit: `audit.k8s.io/v1` (and v1beta1) Events, one per line, or an EventList.

One event per request (`auditID`): its `ResponseComplete` stage, or `Panic` (stored as an
error). A long-running request (exec, attach, watch, port-forward) seen only at
`ResponseStarted` is imported from that stage; `Requests` holds a started stage back until
the end of the import and leaves it out when the request's final stage turns up, in whatever
batch or file of the import, before or after it. `RequestReceived` alone is not an event
(skipped).
Action: `k8s.<resource>[.<subresource>].<verb>` (`k8s.pods.exec.create`,
`k8s.clusterrolebindings.create`); outcome from `responseStatus.code` (401/403 denied,
other 4xx failure, 5xx error) or, without one, the authorization decision annotation.
"""
from __future__ import annotations

from apps.importers.formats.base import Refused, Skipped, action_part, dig, event_id, ip_or_none, sentence, text

NAME = "kubernetes"
LABEL = "Kubernetes audit"
HINT = "audit.k8s.io Event objects, one per line (the API server's log backend), or an EventList"

_FINAL = {"ResponseComplete", "Panic"}
_VERB_METHODS = {
    "get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT",
    "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE",
}


def records(document) -> list | None:
    if isinstance(document, dict) and isinstance(document.get("items"), list) and document.get("kind") == "EventList":
        return document["items"]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    return None


def looks_like(record) -> bool:
    return isinstance(record, dict) and "auditID" in record and ("verb" in record or "stage" in record)


def _field(record, name: str) -> str | None:
    value = record.get(name) if isinstance(record, dict) else None
    return value if isinstance(value, str) and value else None  # attacker-controlled: anything but text is nothing


class Requests:
    """The stages of the requests of one import, so that each request gives one event.

    `sort` is told every record before it is mapped: a final stage is kept (and a started
    stage of the same request held back earlier is let go: `dropped` counts those); a started
    stage is skipped when its request already ended in this import, else held back (`hold`)
    until the end, when `release` gives back the ones whose request never ended. Memory: the
    ids of the requests that ended (some 100 bytes each) and the held started stages.
    """

    KEEP, SKIP, HOLD = "keep", "skip", "hold"

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.waiting: dict[str, list] = {}
        self.dropped = 0

    def sort(self, record) -> str:
        audit_id, stage = _field(record, "auditID"), _field(record, "stage")
        if audit_id is None:
            return self.KEEP
        if stage in _FINAL:
            self.ended.add(audit_id)
            self.dropped += len(self.waiting.pop(audit_id, ()))
            return self.KEEP
        if stage == "ResponseStarted":
            return self.SKIP if audit_id in self.ended else self.HOLD
        return self.KEEP

    def hold(self, record, item) -> None:
        """Keep `item` (what the run will import) back until the end of the import. A started
        stage read twice is held twice, and the chain stores the same record once."""
        self.waiting.setdefault(_field(record, "auditID"), []).append(item)

    def release(self) -> list:
        """The held items of requests that never ended, in the order their requests were first read."""
        items = [item for held in self.waiting.values() for item in held]
        self.waiting = {}
        return items


def event_from(record: dict) -> dict:
    kind = record.get("kind")
    if kind != "Event":
        raise Refused(f"kind is {kind!r}, not 'Event': not a Kubernetes audit event")
    audit_id, verb = record.get("auditID"), record.get("verb")
    if not isinstance(audit_id, str) or not audit_id:
        raise Refused("auditID is missing")
    if not isinstance(verb, str) or not verb:
        raise Refused("verb is missing")
    stage = record.get("stage") or "ResponseComplete"
    if stage == "RequestReceived":
        raise Skipped("RequestReceived stage: the request's later stage is its event")
    when = record.get("stageTimestamp") or record.get("requestReceivedTimestamp") or record.get("timestamp")
    if not when:
        raise Refused("stageTimestamp is missing")
    ref = record.get("objectRef") if isinstance(record.get("objectRef"), dict) else {}
    resource, sub = text(ref.get("resource")), text(ref.get("subresource"))
    parts = [p for p in ("k8s", action_part(resource) if resource else "nonresource", action_part(sub) if sub else "", action_part(verb)) if p]
    code = dig(record, "responseStatus", "code")
    outcome = _outcome(code, record, stage)
    user = record.get("user") if isinstance(record.get("user"), dict) else {}
    username = text(user.get("username"))
    ips = record.get("sourceIPs") if isinstance(record.get("sourceIPs"), list) else []
    name, namespace = text(ref.get("name")), text(ref.get("namespace"))
    resource_id = "/".join(p for p in (namespace, resource, name) if p)
    return {
        "event_id": event_id("k8s", audit_id, record),
        "timestamp": when,
        "action": ".".join(parts),
        "category": "iam" if resource in ("clusterroles", "clusterrolebindings", "roles", "rolebindings", "serviceaccounts") else "compute",
        "outcome": outcome,
        "severity": {"denied": "medium", "error": "high"}.get(outcome, "info"),
        "actor_type": "service" if username.startswith("system:serviceaccount:") else
                      "system" if username.startswith("system:") else "user",
        "actor_id": text(user.get("uid")) or username,
        "actor_name": username,
        "ip_address": ip_or_none(ips[0]) if ips else None,
        "user_agent": text(record.get("userAgent")),
        "resource_type": f"{resource}/{sub}" if sub else resource,
        "resource_id": resource_id,
        "resource_name": name,
        "request_method": _VERB_METHODS.get(verb, "POST" if sub in ("exec", "attach", "portforward") else ""),
        "request_path": text(record.get("requestURI")),
        "status_code": code if isinstance(code, int) and 100 <= code <= 599 else None,
        "request_id": audit_id,
        "description": sentence(username or "someone", verb, f"{resource}/{sub}" if sub else resource,
                                name, f"in {namespace}" if namespace else "", f"({code})" if code else ""),
        "tags": ["import:kubernetes"],
        "metadata": record,
    }


def _outcome(code, record: dict, stage: str) -> str:
    if stage == "Panic":
        return "error"
    if isinstance(code, int):
        if code in (401, 403):
            return "denied"
        if 400 <= code < 500:
            return "failure"
        if code >= 500:
            return "error"
        return "success"
    decision = dig(record, "annotations", "authorization.k8s.io/decision")
    if decision == "forbid":
        return "denied"
    return "success" if decision == "allow" else "unknown"
