"""Console users: creating (with a password or an invitation), deactivating, reactivating."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.rbac.assignments import refuse_losing_last_admin, refuse_own_change
from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.models import RoleAssignment, Team
from apps.rbac.refusals import AccessRefused, refusals_recorded


def user_list():
    User = get_user_model()
    return (
        User.objects.filter(auditor_link__isnull=True)
        .prefetch_related(
            Prefetch("role_assignments", queryset=RoleAssignment.objects.select_related("role").order_by("role__position")),
            Prefetch("teams", queryset=Team.objects.order_by("name")),
        )
        .order_by("username")
    )


def user_state(user) -> dict:
    return {
        "username": user.get_username(),
        "email": user.email,
        "name": user.get_full_name(),
        "is_active": user.is_active,
        "invited": not user.has_usable_password(),
    }


@dataclass(frozen=True)
class CreatedUser:
    user: object
    # Where the new user sets their password, when none was given (shown once to the creator).
    invite_path: str | None


@refusals_recorded("rbac.user.create")
def user_create(*, actor: Actor, username: str, email: str = "", first_name: str = "", last_name: str = "",
                password: str | None = None) -> CreatedUser:
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise AccessRefused(f"A user named {username} already exists.", field="username")
    if email and User.objects.filter(email__iexact=email).exists():
        raise AccessRefused(f"Another user already has the email {email}.", field="email")
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    invite_path = None if password else invite_path_for(user)
    audit_record(
        actor=actor, action="rbac.user.create", resource_type="user", resource_id=user.get_username(),
        resource_name=user.get_full_name(),
        description=f"{actor.label} created the user {user.get_username()}" + ("" if password else " and invited them"),
        changes={"before": None, "after": user_state(user)},
    )
    return CreatedUser(user=user, invite_path=invite_path)


def invite_path_for(user) -> str:
    """A one-time link to set a first password (Django's reset token: it dies once used)."""
    return reverse("invite", args=[urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)])


@refusals_recorded("rbac.user.deactivate")
def user_deactivate(*, actor: Actor, user) -> None:
    """Stop a user from signing in and from using their tokens; their roles stay for the record."""
    refuse_own_change(actor, user, "deactivate")
    if not user.is_active:
        raise AccessRefused(f"{user.get_username()} is already deactivated.", field="user")
    refuse_losing_last_admin(user, "deactivate them")
    before = user_state(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor, action="rbac.user.deactivate", resource_type="user", resource_id=user.get_username(),
        description=f"{actor.label} deactivated the user {user.get_username()}", severity="low",
        changes={"before": before, "after": user_state(user)},
    )


@refusals_recorded("rbac.user.reactivate")
def user_reactivate(*, actor: Actor, user) -> None:
    refuse_own_change(actor, user, "reactivate")
    if user.is_active:
        raise AccessRefused(f"{user.get_username()} is already active.", field="user")
    before = user_state(user)
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor, action="rbac.user.reactivate", resource_type="user", resource_id=user.get_username(),
        description=f"{actor.label} reactivated the user {user.get_username()}", severity="low",
        changes={"before": before, "after": user_state(user)},
    )
