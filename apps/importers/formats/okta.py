"""Okta System Log: events as the `/api/v1/logs` API returns them (a JSON array) or one per line.

Action: the `eventType` as Okta writes it (`user.session.start`,
`user.account.privilege.grant`); actor from `actor` (`alternateId` is the sign-in name,
usually an email); IP and user agent from `client`; outcome from `outcome.result` (SUCCESS,
FAILURE, DENY, SKIPPED, ALLOW, CHALLENGE, UNKNOWN); the first `target` is the resource, all
targets stay in `metadata.target`; the session from `authenticationContext.externalSessionId`.
"""
from __future__ import annotations

from apps.importers.formats.base import Refused, action_part, dig, event_id, ip_or_none, text

NAME = "okta"
LABEL = "Okta System Log"
HINT = "System Log events (the /api/v1/logs JSON array, or one event per line)"

_OUTCOMES = {
    "SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "denied",
    "CHALLENGE": "unknown", "SKIPPED": "unknown", "UNKNOWN": "unknown",
}
_SEVERITIES = {"DEBUG": "info", "INFO": "info", "WARN": "medium", "ERROR": "high"}
_ACTOR_TYPES = {"User": "user", "PublicClientApp": "service", "SystemPrincipal": "system", "Client": "service"}
_CATEGORIES = {"user.session": "auth", "user.authentication": "auth", "user.mfa": "auth",
               "policy": "authz", "application": "config", "system": "system", "group": "iam",
               "user": "iam", "zone": "network"}


def records(document) -> list | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    return None


def looks_like(record) -> bool:
    return isinstance(record, dict) and "eventType" in record and "published" in record and isinstance(record.get("actor"), dict)


def event_from(record: dict) -> dict:
    event_type = record.get("eventType")
    if not isinstance(event_type, str) or not event_type.strip():
        raise Refused("eventType is missing: not an Okta System Log event")
    if not record.get("published"):
        raise Refused("published (the event's time) is missing")
    actor = record.get("actor") if isinstance(record.get("actor"), dict) else {}
    client = record.get("client") if isinstance(record.get("client"), dict) else {}
    targets = [t for t in (record.get("target") or []) if isinstance(t, dict)] if isinstance(record.get("target"), list) else []
    first = targets[0] if targets else {}
    result = text(dig(record, "outcome", "result")).upper()
    alternate = text(actor.get("alternateId"))
    action = ".".join(action_part(part) for part in event_type.strip().split("."))
    return {
        "event_id": event_id("okta", record.get("uuid"), record),
        "timestamp": record.get("published"),
        "action": action,
        "category": _category(event_type),
        "outcome": _OUTCOMES.get(result, "unknown"),
        "severity": _SEVERITIES.get(text(record.get("severity")).upper(), "info"),
        "actor_type": _ACTOR_TYPES.get(text(actor.get("type")), "user"),
        "actor_id": text(actor.get("id")),
        "actor_name": text(actor.get("displayName")) or alternate,
        "actor_email": alternate if "@" in alternate else "",
        "ip_address": ip_or_none(client.get("ipAddress")),
        "user_agent": text(dig(client, "userAgent", "rawUserAgent")),
        "session_id": text(dig(record, "authenticationContext", "externalSessionId")),
        "auth_method": _auth_method(record),
        "resource_type": text(first.get("type")),
        "resource_id": text(first.get("id")),
        "resource_name": text(first.get("alternateId") or first.get("displayName")),
        "request_id": text(dig(record, "debugContext", "debugData", "requestId") or dig(record, "transaction", "id")),
        "request_path": text(dig(record, "debugContext", "debugData", "requestUri")),
        "description": text(record.get("displayMessage"), 10_000) or event_type,
        "tags": ["import:okta"],
        "metadata": record,
    }


def _category(event_type: str) -> str:
    for prefix in sorted(_CATEGORIES, key=len, reverse=True):
        if event_type == prefix or event_type.startswith(prefix + "."):
            return _CATEGORIES[prefix]
    return "security"


def _auth_method(record: dict) -> str:
    provider = text(dig(record, "authenticationContext", "credentialProvider")).upper()
    kind = text(dig(record, "authenticationContext", "credentialType")).upper()
    if "SAML" in kind or "SAML" in provider:
        return "saml"
    if kind in ("OTP", "SMS", "EMAIL", "PUSH", "U2F", "WEBAUTHN") or "FACTOR" in provider:
        return "mfa"
    if kind == "PASSWORD":
        return "password"
    return ""
