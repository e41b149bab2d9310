"""Issuing, checking and revoking API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.models import ApiToken

TOKEN_PREFIX = "ac_"
# How many leading characters of a secret are stored in clear, to recognise a token by.
PREFIX_LENGTH = 10
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# last_used_at is a convenience, not an audit record: write it at most this often so that a
# busy ingest token does not turn every request into an extra UPDATE.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def parse_duration(text: str) -> timedelta:
    """`30d`, `1h`, `5s`, `15m`, `2w` → timedelta; ValueError with a readable message otherwise."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"'{text}' is not a duration; use a number and a unit, like 30d, 1h, 15m or 5s")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError("a duration must be greater than zero")
    return timedelta(**{_UNITS[unit]: amount})


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


@transaction.atomic
def token_issue(
    *,
    scope: str,
    user=None,
    projects: list[str] | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    expires_in: timedelta | None = None,
    name: str = "",
    created_by=None,
    actor: Actor | None = None,
) -> IssuedToken:
    """Make a token; the secret is in the result only. Recorded as rbac.token.issue by `actor`."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    if window_start and window_end and window_start >= window_end:
        raise ValueError("the window's start must be before its end")
    if scope == ApiToken.Scope.AUDITOR and not (window_start and window_end):
        raise ValueError("an auditor token needs a time window (--start and --end)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        key_hash=hash_secret(secret),
        scope=scope,
        user=user,
        projects=sorted(set(projects or [])),
        window_start=window_start,
        window_end=window_end,
        expires_at=timezone.now() + expires_in if expires_in else None,
        created_by=created_by if created_by is not None else (actor.user if actor else None),
    )
    audit_record(
        actor=actor or Actor.system(), action="rbac.token.issue", resource_type="api_token",
        resource_id=token.prefix, resource_name=name,
        description=f"{(actor or Actor.system()).label} issued a {scope} token {token.prefix}…",
        metadata={"token_scope": scope},
        changes={"before": None, "after": _token_state(token)},
    )
    return IssuedToken(token=token, secret=secret)


def _token_state(token: ApiToken) -> dict:
    """What a token allows, as recorded in the audit trail (never the secret or its hash)."""
    return {
        "prefix": token.prefix,
        "name": token.name,
        "scope": token.scope,
        "user": token.user.get_username() if token.user_id else None,
        "projects": list(token.projects),
        "window_start": token.window_start.isoformat() if token.window_start else None,
        "window_end": token.window_end.isoformat() if token.window_end else None,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def token_authenticate(secret: str) -> ApiToken | None:
    """The usable token with this secret, or None (unknown, revoked or expired)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.usable().select_related("user").filter(key_hash=hash_secret(secret)).first()
    if token is None:
        return None
    if token.user is not None and not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: Actor | None = None) -> ApiToken:
    """Revoke a token (no-op when it already is). Recorded as rbac.token.revoke by `actor`."""
    if token.revoked_at is None:
        before = _token_state(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor or Actor.system(), action="rbac.token.revoke", resource_type="api_token",
            resource_id=token.prefix, resource_name=token.name,
            description=f"{(actor or Actor.system()).label} revoked the {token.scope} token {token.prefix}…",
            changes={"before": before, "after": _token_state(token)},
        )
    return token
