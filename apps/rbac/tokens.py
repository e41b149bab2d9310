"""Issuing, checking and revoking API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

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
) -> IssuedToken:
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
        created_by=created_by,
    )
    return IssuedToken(token=token, secret=secret)


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


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
