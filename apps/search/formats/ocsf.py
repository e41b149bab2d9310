"""OCSF 1.4.0 events as JSON Lines: each event mapped to one of four OCSF classes.

The class is chosen per event, in this order (the first that fits):

| OCSF class | class_uid | events |
|---|---|---|
| Authentication | 3002 | category `auth`, or an action whose first part is auth/authentication/login/sso/session, or whose verb is login, logout, signin, signout, logon, logoff |
| Account Change | 3001 | category `iam` about an account: resource type user/account/service_account/member, or an action naming user, account, password or mfa |
| API Activity | 6003 | an API call: the event has a request method or path, or the actor is an API key |
| Entity Management | 3004 | everything else: a change to (or read of) a resource |

The activity is read from the action's words (create, read, update, delete, login, logout,
enable, disable, password change/reset, mfa enable/disable, lock, unlock...), else 99 (Other);
`type_uid = class_uid * 100 + activity_id`. severity_id: info 1, low 2, medium 3, high 4,
critical 5; status_id: success 1, failure/denied/error 2, else 0. Fields with no OCSF
attribute (seq, hashes, project, tags, changes, metadata) go to `unmapped`; an Authentication's
`service` is the project (else this console); an email address
that is not one, and an IP address we do not have, are left out rather than made up.

JSON escapes every control character, so one event is one line and its text is inert.
"""
from __future__ import annotations

import json as _json
import re

from apps.events.chain import format_ip, hash_label
from apps.search.formats.base import PRODUCT, PRODUCT_VERSION, VENDOR, ExportFormat, epoch_millis, lines
from apps.events.models import Event

OCSF_VERSION = "1.4.0"
AUTHENTICATION, ACCOUNT_CHANGE, ENTITY_MANAGEMENT, API_ACTIVITY = 3002, 3001, 3004, 6003
CLASS_NAMES = {AUTHENTICATION: "Authentication", ACCOUNT_CHANGE: "Account Change",
               ENTITY_MANAGEMENT: "Entity Management", API_ACTIVITY: "API Activity"}
SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
STATUS_ID = {"success": 1, "failure": 2, "denied": 2, "error": 2}

_AUTH_PREFIXES = {"auth", "authentication", "login", "sso", "session"}
_AUTH_VERBS = {"login": 1, "logon": 1, "signin": 1, "sign_in": 1, "logout": 2, "logoff": 2, "signout": 2,
               "sign_out": 2, "ticket": 3}
_ACCOUNT_TYPES = {"user", "account", "service_account", "member", "users", "accounts"}
_ACCOUNT_WORDS = {"user", "users", "account", "accounts", "password", "mfa"}
_CRUD = {"create": 1, "add": 1, "invite": 1, "read": 2, "view": 2, "get": 2, "list": 2, "export": 2,
         "download": 2, "update": 3, "modify": 3, "change": 3, "edit": 3, "set": 3, "scale": 3, "up": 3,
         "down": 3, "rotate": 3, "delete": 4, "remove": 4, "destroy": 4, "revoke": 4, "terminate": 4}
_ENTITY_EXTRA = {"move": 5, "enable": 8, "disable": 9, "activate": 10, "deactivate": 11, "suspend": 12,
                 "resume": 13}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _words(action: str) -> list[str]:
    return [word for word in re.split(r"[.\-:/ ]+", action.lower()) if word]


def ocsf_class(event: Event) -> int:
    words = _words(event.action)
    if event.category == "auth" or (words and words[0] in _AUTH_PREFIXES) or _AUTH_VERBS.keys() & set(words):
        return AUTHENTICATION
    if event.category == "iam" and (event.resource_type.lower() in _ACCOUNT_TYPES or _ACCOUNT_WORDS & set(words)):
        return ACCOUNT_CHANGE
    if event.request_method or event.request_path or event.actor_type == "api_key":
        return API_ACTIVITY
    return ENTITY_MANAGEMENT


def ocsf_activity(class_uid: int, action: str) -> int:
    words = _words(action)
    if class_uid == AUTHENTICATION:
        return next((_AUTH_VERBS[w] for w in reversed(words) if w in _AUTH_VERBS), 99)
    if class_uid == ACCOUNT_CHANGE:
        text = ".".join(words)
        for pattern, activity in (("password.reset", 4), ("password", 3), ("mfa.enable", 10), ("mfa.disable", 11),
                                  ("unlock", 12), ("lock", 9), ("attach", 7), ("detach", 8)):
            if pattern in text:
                return activity
        table = {"create": 1, "add": 1, "invite": 1, "enable": 2, "disable": 5, "delete": 6, "remove": 6}
        return next((table[w] for w in reversed(words) if w in table), 99)
    table = _CRUD if class_uid == API_ACTIVITY else {**_CRUD, **_ENTITY_EXTRA}
    found = next((table[w] for w in reversed(words) if w in table), 99)
    return found if class_uid == ENTITY_MANAGEMENT or found <= 4 else 99


def _user(uid: str, name: str, email: str = "") -> dict:
    user = {key: value for key, value in (("uid", uid), ("name", name)) if value}
    if email and _EMAIL.match(email):
        user["email_addr"] = email
    return user or {"name": "unknown"}


def ocsf_event(event: Event) -> dict:
    """One event as an OCSF 1.4.0 object of the class `ocsf_class` picks."""
    class_uid = ocsf_class(event)
    activity_id = ocsf_activity(class_uid, event.action)
    ip = format_ip(event.ip_address)
    actor_user = _user(event.actor_id, event.actor_name, event.actor_email)
    out: dict = {
        "class_uid": class_uid,
        "class_name": CLASS_NAMES[class_uid],
        "category_uid": class_uid // 1000,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "time": epoch_millis(event.occurred_at),
        "severity_id": SEVERITY_ID.get(event.severity, 0),
        "severity": event.severity or "unknown",
        "status_id": STATUS_ID.get(event.outcome, 0 if event.outcome in ("", "unknown") else 99),
        "status": event.outcome or "unknown",
        "message": event.description,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": PRODUCT, "vendor_name": VENDOR, "version": PRODUCT_VERSION},
            "uid": event.event_id,
            "sequence": event.seq,
            "logged_time": epoch_millis(event.received_at),
            "log_name": "audit",
            "event_code": event.action,
        },
        "actor": {"user": actor_user},
        "unmapped": {
            "action": event.action, "category": event.category, "seq": event.seq, "project": event.project,
            "region": event.region, "tags": list(event.tags or []), "changes": event.changes,
            "metadata": event.metadata or {}, "hash": hash_label(event.hash), "prev_hash": hash_label(event.prev_hash),
            "actor_type": event.actor_type, "actor_email": event.actor_email,
            "resource": {"type": event.resource_type, "id": event.resource_id, "name": event.resource_name},
        },
    }
    if event.status_code is not None:
        out["status_code"] = str(event.status_code)
    if event.trace_id:
        out["metadata"]["correlation_uid"] = event.trace_id
    if ip:
        out["src_endpoint"] = {"ip": ip}
    if class_uid == AUTHENTICATION:
        # The class asks for the service signed in to (or its endpoint): the project, else this console.
        out["user"] = actor_user
        out["service"] = {"name": event.project or PRODUCT}
    elif class_uid == ACCOUNT_CHANGE:
        out["user"] = _user(event.resource_id, event.resource_name) if event.resource_id or event.resource_name \
            else actor_user
    elif class_uid == ENTITY_MANAGEMENT:
        entity = {key: value for key, value in (("uid", event.resource_id), ("name", event.resource_name),
                                                ("type", event.resource_type)) if value}
        out["entity"] = entity if ("uid" in entity or "name" in entity) else {"name": event.action, **entity}
    else:
        out["api"] = {"operation": event.action,
                      "request": {"uid": event.request_id or event.event_id}}
        if event.resource_type:
            out["api"]["service"] = {"name": event.resource_type}
        out.setdefault("src_endpoint", {"name": "unknown"})
        if event.request_method or event.request_path or event.user_agent:
            request = {key: value for key, value in (("http_method", event.request_method),
                                                     ("user_agent", event.user_agent)) if value}
            if event.request_path:
                request["url"] = {"path": event.request_path}
            out["http_request"] = request
    return out


def render(event: Event) -> str:
    return _json.dumps(ocsf_event(event), ensure_ascii=False, separators=(",", ":"))


FORMAT = ExportFormat("ocsf", "OCSF JSON Lines", "application/x-ndjson", "ocsf.jsonl", lines(render), render=render)
