"""Assigning roles to users and taking them away, under the rules of separation of duties.

- nobody changes their own roles (another administrator does it);
- the last Audit Administrator cannot lose the role, have it expire, or be deactivated;
- an External Auditor assignment always has a time window and an expiry.

Every change is recorded in the audit trail in its own transaction; refusals are recorded too.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.grants import forget_grants, users_holding
from apps.rbac.models import Role, RoleAssignment, Team
from apps.rbac.refusals import AccessRefused, refusals_recorded

ADMIN = Role.Slug.AUDIT_ADMINISTRATOR
AUDITOR = Role.Slug.EXTERNAL_AUDITOR


def assignment_list():
    return (
        RoleAssignment.objects.select_related("user", "user__auditor_link", "role", "created_by")
        .prefetch_related(Prefetch("teams", queryset=Team.objects.order_by("name")))
        .order_by("user__username", "role__position")
    )


def role_list():
    return Role.objects.prefetch_related("permissions__content_type").order_by("position")


def assignment_state(assignment: RoleAssignment | None) -> dict | None:
    """An assignment as recorded in `changes` (before/after)."""
    if assignment is None:
        return None
    return {
        "user": assignment.user.get_username(),
        "role": assignment.role.slug,
        "projects": list(assignment.projects),
        "teams": sorted(team.name for team in assignment.teams.all()) if assignment.pk else [],
        "window_start": _iso(assignment.window_start),
        "window_end": _iso(assignment.window_end),
        "expires_at": _iso(assignment.expires_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def refuse_own_change(actor: Actor, user, what: str) -> None:
    if actor.user is not None and actor.user.pk == user.pk:
        raise AccessRefused(f"You cannot {what} yourself; another Audit Administrator must do it.", field="user")


def refuse_losing_last_admin(user, what: str) -> None:
    """Refuse when `user` is the only active Audit Administrator left.

    The lock on the role's row serialises such changes: two administrators removing each other
    at the same moment cannot both succeed and leave nobody.
    """
    Role.objects.select_for_update().filter(slug=ADMIN).first()
    holders = users_holding(ADMIN)
    if holders.filter(pk=user.pk).exists() and not holders.exclude(pk=user.pk).exists():
        raise AccessRefused(
            f"{user.get_username()} is the last Audit Administrator; make someone else one before you {what}.",
            field="user",
        )


@refusals_recorded("rbac.role.assign")
def role_assign(
    *,
    actor: Actor,
    user,
    role: Role,
    projects: list[str] | tuple[str, ...] = (),
    teams: list[Team] | tuple[Team, ...] = (),
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    expires_at: datetime | None = None,
) -> RoleAssignment:
    """Give `user` the role with these limits, or change the limits of the assignment they have."""
    refuse_own_change(actor, user, "change the roles of")
    if not user.is_active:
        raise AccessRefused(f"{user.get_username()} is deactivated; reactivate the account first.", field="user")
    if window_start and window_end and window_start >= window_end:
        raise AccessRefused("The window must start before it ends.", field="window_end")
    if role.slug == AUDITOR and not (window_start and window_end and expires_at):
        raise AccessRefused("An External Auditor needs a time window (start and end) and an expiry.", field="window_start")
    if expires_at is not None and expires_at <= timezone.now():
        raise AccessRefused("The expiry must be in the future.", field="expires_at")

    existing = RoleAssignment.objects.select_for_update().filter(user=user, role=role).first()
    if role.slug == ADMIN and expires_at is not None:
        refuse_losing_last_admin(user, "make the role expire")
    before = assignment_state(existing)
    assignment = existing or RoleAssignment(user=user, role=role, created_by=actor.user)
    assignment.projects = sorted({p.strip() for p in projects if p.strip()})
    assignment.window_start, assignment.window_end, assignment.expires_at = window_start, window_end, expires_at
    assignment.save()
    assignment.teams.set(teams)
    after = assignment_state(assignment)
    forget_grants(user)
    verb = "changed the limits of" if existing else "assigned"
    audit_record(
        actor=actor, action="rbac.role.assign", resource_type="role_assignment",
        resource_id=f"{user.get_username()}:{role.slug}", resource_name=f"{user.get_username()} as {role.name}",
        description=f"{actor.label} {verb} {role.name} {'for' if existing else 'to'} {user.get_username()}",
        changes={"before": before, "after": after},
        severity="medium" if role.slug == ADMIN else "low",
    )
    return assignment


@refusals_recorded("rbac.role.unassign")
def role_unassign(*, actor: Actor, assignment: RoleAssignment) -> None:
    """Take a role away from a user."""
    user, role = assignment.user, assignment.role
    refuse_own_change(actor, user, "remove roles from")
    if role.slug == ADMIN:
        refuse_losing_last_admin(user, "remove the role")
    before = assignment_state(assignment)
    assignment.delete()
    forget_grants(user)
    audit_record(
        actor=actor, action="rbac.role.unassign", resource_type="role_assignment",
        resource_id=f"{user.get_username()}:{role.slug}", resource_name=f"{user.get_username()} as {role.name}",
        description=f"{actor.label} removed {role.name} from {user.get_username()}",
        changes={"before": before, "after": None},
        severity="medium" if role.slug == ADMIN else "low",
    )


def role_by_name(text: str) -> Role | None:
    """A role by slug or name, ignoring case and the difference between spaces, - and _."""
    wanted = text.strip().lower().replace("_", "-").replace(" ", "-")
    for role in Role.objects.all():
        if wanted in (role.slug, role.name.lower().replace(" ", "-")):
            return role
    return None
