"""Expiring sign-in links for external auditors (seed 002: right-to-audit access).

A link signs its holder in as a restricted account made for it: no password, and a single
External Auditor assignment limited to the link's window, projects and expiry. It can be used
again until it expires or is revoked; revoking it ends the assignment at once.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.text import slugify

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.models import AuditorLink, Role, RoleAssignment
from apps.rbac.refusals import AccessRefused, refusals_recorded
from apps.rbac.tokens import LAST_USED_RESOLUTION, hash_secret

LINK_PREFIX = "al_"
PREFIX_LENGTH = 10


@dataclass(frozen=True)
class CreatedLink:
    link: AuditorLink
    secret: str


def auditor_link_list():
    return AuditorLink.objects.select_related("user", "created_by").order_by("-created_at")


def _state(link: AuditorLink) -> dict:
    return {
        "prefix": link.prefix,
        "label": link.label,
        "email": link.email,
        "account": link.user.get_username(),
        "projects": list(link.projects),
        "window_start": link.window_start.isoformat(),
        "window_end": link.window_end.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
    }


@refusals_recorded("rbac.auditor_link.create")
def auditor_link_create(*, actor: Actor, label: str, window_start: datetime, window_end: datetime,
                        expires_at: datetime, email: str = "", projects: list[str] | tuple[str, ...] = ()) -> CreatedLink:
    if window_start >= window_end:
        raise AccessRefused("The window must start before it ends.", field="window_end")
    if expires_at <= timezone.now():
        raise AccessRefused("The expiry must be in the future.", field="expires_in")
    secret = LINK_PREFIX + secrets.token_urlsafe(32)
    prefix = secret[:PREFIX_LENGTH]
    projects = sorted({p.strip() for p in projects if p.strip()})
    # A name people can read in the log and the access lists: the label's words, then the link's prefix.
    readable = slugify(label)[:40].strip("-") or "link"
    user = get_user_model()(username=f"auditor-{readable}-{prefix[len(LINK_PREFIX):].lower()}"[:150],
                            email=email, first_name=label[:150])
    user.set_unusable_password()
    user.save()
    RoleAssignment.objects.create(
        user=user, role=Role.objects.get(slug=Role.Slug.EXTERNAL_AUDITOR), projects=projects,
        window_start=window_start, window_end=window_end, expires_at=expires_at, created_by=actor.user,
    )
    link = AuditorLink.objects.create(
        label=label, email=email, user=user, prefix=prefix, key_hash=hash_secret(secret), projects=projects,
        window_start=window_start, window_end=window_end, expires_at=expires_at, created_by=actor.user,
    )
    audit_record(
        actor=actor, action="rbac.auditor_link.create", resource_type="auditor_link", resource_id=prefix,
        resource_name=label, severity="medium",
        description=f"{actor.label} created an external auditor link for {label}",
        changes={"before": None, "after": _state(link)},
    )
    return CreatedLink(link=link, secret=secret)


@refusals_recorded("rbac.auditor_link.revoke")
def auditor_link_revoke(*, actor: Actor, link: AuditorLink) -> None:
    if link.revoked_at is not None:
        raise AccessRefused("This link is already revoked.")
    before = _state(link)
    now = timezone.now()
    link.revoked_at = now
    link.save(update_fields=["revoked_at"])
    RoleAssignment.objects.filter(user=link.user, expires_at__gt=now).update(expires_at=now)
    audit_record(
        actor=actor, action="rbac.auditor_link.revoke", resource_type="auditor_link", resource_id=link.prefix,
        resource_name=link.label, description=f"{actor.label} revoked the external auditor link for {link.label}",
        changes={"before": before, "after": _state(link)},
    )


def auditor_link_authenticate(secret: str) -> AuditorLink | None:
    """The usable link with this secret (not revoked, not expired, account active), or None."""
    if not secret or not secret.startswith(LINK_PREFIX) or len(secret) > 200:
        return None
    link = AuditorLink.objects.usable().select_related("user").filter(key_hash=hash_secret(secret)).first()
    if link is None or not link.user.is_active:
        return None
    now = timezone.now()
    if link.last_used_at is None or now - link.last_used_at > LAST_USED_RESOLUTION:
        AuditorLink.objects.filter(pk=link.pk).update(last_used_at=now)
        link.last_used_at = now
    return link
