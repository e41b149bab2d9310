"""The console's own audit trail: the audit log of the audit log (seed 001).

Every read of events through the console or the API, every sign-in and sign-out, and every
change of access configuration is appended to the same hash-chained log as the events it is
about, with category "audit", the console user (or the API token, or the command line) as the
actor, their address and user agent, what they asked for in `metadata` and, for changes, the
before and after in `changes`. Refusals are recorded too, with outcome "denied".

Recording only appends (through the schema and the chain); it never reads events, so
recording a read cannot itself cause a read to be recorded.
"""
from __future__ import annotations

import getpass
import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest

from apps.events.chain import chain_append
from apps.events.schema import normalize_event
from apps.rbac.models import ApiToken

CATEGORY = "audit"
_MAX_AGENT = 500


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where: the actor fields of an audit-trail event."""

    type: str
    id: str
    name: str = ""
    email: str = ""
    auth_method: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    session_id: str = ""
    request_method: str = ""
    request_path: str = ""
    # The console user behind the actor, for checks such as "nobody changes their own role".
    user: object | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return self.name or self.email or self.id

    @classmethod
    def from_request(cls, request: HttpRequest, *, username: str = "") -> "Actor":
        """The user or token behind a request; `username` names who tried to sign in when nobody is."""
        where = {
            "ip_address": request.META.get("REMOTE_ADDR") or None,
            "user_agent": (request.META.get("HTTP_USER_AGENT") or "")[:_MAX_AGENT],
            "request_method": request.method or "",
            "request_path": request.path[:500],
        }
        token = getattr(request, "api_token", None)
        if token is not None:
            return cls._for_token(token, **where)
        session = getattr(request, "session", None)
        session_key = session.session_key if session is not None else None
        if session_key:
            # A digest, not the key: the key itself is a credential and the log is widely read.
            where["session_id"] = "sess_" + hashlib.sha256(session_key.encode()).hexdigest()[:16]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            via_link = bool(session is not None and session.get(AUDITOR_LINK_SESSION_KEY))
            return cls._for_user(user, auth_method="token" if via_link else "password", **where)
        return cls(type="user", id=username[:150] or "anonymous", auth_method="password", **where)

    @classmethod
    def from_principal(cls, principal) -> "Actor":
        """A user or token acting outside a request (a scheduled report, a worker)."""
        if isinstance(principal, ApiToken):
            return cls._for_token(principal)
        return cls._for_user(principal, auth_method="system")

    @classmethod
    def system(cls, name: str = "") -> "Actor":
        """The command line or another process acting on its own."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return cls(type="system", id=name or "system", name=f"{name or 'system'} (run by {who})", auth_method="system")

    @classmethod
    def _for_user(cls, user, *, auth_method: str, **where) -> "Actor":
        full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
        return cls(type="user", id=user.get_username(), name=full_name, email=user.email or "",
                   auth_method=auth_method, user=user, **where)

    @classmethod
    def _for_token(cls, token: ApiToken, **where) -> "Actor":
        return cls(type="api_key", id=token.prefix, name=token.name or f"{token.scope} token",
                   email=token.user.email if token.user_id and token.user else "",
                   auth_method="token", user=token.user if token.user_id else None, **where)


# The session key under which a restricted auditor session remembers its link.
AUDITOR_LINK_SESSION_KEY = "rbac_auditor_link"


def audit_record(
    *,
    action: str,
    outcome: str = "success",
    request: HttpRequest | None = None,
    principal=None,
    actor: Actor | None = None,
    resource_type: str = "",
    resource_id: str = "",
    resource_name: str = "",
    project: str = "",
    description: str = "",
    severity: str = "",
    status_code: int | None = None,
    metadata: dict | None = None,
    changes: dict | None = None,
) -> None:
    """Append one event about the console's own use to the chained log.

    The actor comes from `actor`, else from `request`, else from `principal` (a user or token).
    Called inside a write's transaction, the event commits or rolls back with the change.
    """
    if not settings.AUDIT_TRAIL_ENABLED:
        return
    if actor is None:
        if request is not None:
            actor = Actor.from_request(request)
        elif principal is not None:
            actor = Actor.from_principal(principal)
        else:
            actor = Actor.system()
    raw = {
        "action": action,
        "category": CATEGORY,
        "outcome": outcome,
        "severity": severity or ("medium" if outcome in ("denied", "failure") else "info"),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "actor_email": actor.email,
        "auth_method": actor.auth_method,
        "ip_address": actor.ip_address,
        "user_agent": actor.user_agent,
        "session_id": actor.session_id,
        "request_method": actor.request_method,
        "request_path": actor.request_path,
        "status_code": status_code,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "resource_name": resource_name,
        "project": project,
        "description": description or f"{actor.label} {action.replace('.', ' ')} ({outcome})",
        "metadata": {"source": "console", **(metadata or {})},
    }
    if changes is not None:
        raw["changes"] = changes
    # console=True: the one caller allowed the reserved category and actions (schema refuses
    # them from ingest and imports, so these records cannot be forged).
    chain_append([normalize_event(raw, console=True)])
