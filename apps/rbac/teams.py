"""Teams and their members (a Manager sees the events of the members of their teams)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.grants import forget_grants
from apps.rbac.models import Team
from apps.rbac.refusals import AccessRefused, refusals_recorded


def team_list():
    User = get_user_model()
    return (
        Team.objects.annotate(member_count=Count("members"))
        .prefetch_related(Prefetch("members", queryset=User.objects.order_by("username")))
        .order_by("name")
    )


def _members(team: Team) -> list[str]:
    return sorted(team.members.values_list("username", flat=True))


@refusals_recorded("rbac.team.create")
def team_create(*, actor: Actor, name: str, description: str = "") -> Team:
    if Team.objects.filter(name__iexact=name).exists():
        raise AccessRefused(f"A team named {name} already exists.", field="name")
    team = Team.objects.create(name=name, description=description)
    audit_record(
        actor=actor, action="rbac.team.create", resource_type="team", resource_id=str(team.pk), resource_name=name,
        description=f"{actor.label} created the team {name}",
        changes={"before": None, "after": {"name": name, "description": description, "members": []}},
    )
    return team


def team_get_or_create(*, actor: Actor, name: str) -> Team:
    team = Team.objects.filter(name__iexact=name).first()
    return team or team_create(actor=actor, name=name)


@refusals_recorded("rbac.team.member.add")
def team_member_add(*, actor: Actor, team: Team, user) -> None:
    if team.members.filter(pk=user.pk).exists():
        raise AccessRefused(f"{user.get_username()} is already a member of {team.name}.", field="user")
    before = _members(team)
    team.members.add(user)
    forget_grants(user)
    audit_record(
        actor=actor, action="rbac.team.member.add", resource_type="team", resource_id=str(team.pk),
        resource_name=team.name, description=f"{actor.label} added {user.get_username()} to the team {team.name}",
        changes={"before": {"members": before}, "after": {"members": _members(team)}},
    )


@refusals_recorded("rbac.team.member.remove")
def team_member_remove(*, actor: Actor, team: Team, user) -> None:
    if not team.members.filter(pk=user.pk).exists():
        raise AccessRefused(f"{user.get_username()} is not a member of {team.name}.", field="user")
    before = _members(team)
    team.members.remove(user)
    forget_grants(user)
    audit_record(
        actor=actor, action="rbac.team.member.remove", resource_type="team", resource_id=str(team.pk),
        resource_name=team.name, description=f"{actor.label} removed {user.get_username()} from the team {team.name}",
        changes={"before": {"members": before}, "after": {"members": _members(team)}},
    )
