"""The built-in roles: seed 001's role table plus seed 002's external auditor.

Each role is a named set of Django permissions. `ROLES` is the definition; migrations call
`roles_sync` to make the database match it (a later change to a role is a new migration that
calls it again). The permissions themselves are declared on `rbac.Capability`, except the two
that belong to the events model (`events.view_event`, `events.view_all_events`).
"""
from __future__ import annotations

from dataclasses import dataclass

from apps.rbac.models import Capability, Role

VIEW_EVENTS = "events.view_event"
VIEW_ALL_EVENTS = "events.view_all_events"
VIEW_TEAM_EVENTS = "rbac.view_team_events"
VIEW_OWN_EVENTS = "rbac.view_own_events"
VIEW_ACCESS = "rbac.view_access"
MANAGE_USERS = "rbac.manage_users"
MANAGE_ROLES = "rbac.manage_roles"
MANAGE_TEAMS = "rbac.manage_teams"
MANAGE_TOKENS = "rbac.manage_tokens"
MANAGE_AUDITOR_LINKS = "rbac.manage_auditor_links"
EXPORT_EVENTS = "rbac.export_events"
USE_SAVED_QUERIES = "rbac.use_saved_queries"
VIEW_ALERTS = "rbac.view_alerts"
MANAGE_ALERTS = "rbac.manage_alerts"
GENERATE_REPORTS = "rbac.generate_reports"
GENERATE_EVIDENCE_PACKS = "rbac.generate_evidence_packs"
MANAGE_FRAMEWORKS = "rbac.manage_frameworks"
VIEW_RETENTION = "rbac.view_retention"
MANAGE_RETENTION = "rbac.manage_retention"
MANAGE_STREAMS = "rbac.manage_streams"

EVENT_PERMISSIONS = {
    "view_event": "Can open the event viewer (which events depends on the role)",
    "view_all_events": "Can see every event, not only their own",
}
CAPABILITIES = {f"rbac.{codename}": name for codename, name in Capability._meta.permissions}
CATALOGUE = {**{f"events.{codename}": name for codename, name in EVENT_PERMISSIONS.items()}, **CAPABILITIES}

# How the roles page groups the catalogue, in this order.
PERMISSION_GROUPS = {
    "Events": (VIEW_EVENTS, VIEW_ALL_EVENTS, VIEW_TEAM_EVENTS, VIEW_OWN_EVENTS, EXPORT_EVENTS, USE_SAVED_QUERIES),
    "Alerts": (VIEW_ALERTS, MANAGE_ALERTS),
    "Reports and evidence": (GENERATE_REPORTS, GENERATE_EVIDENCE_PACKS, MANAGE_FRAMEWORKS),
    "Retention and streams": (VIEW_RETENTION, MANAGE_RETENTION, MANAGE_STREAMS),
    "Access": (VIEW_ACCESS, MANAGE_USERS, MANAGE_ROLES, MANAGE_TEAMS, MANAGE_TOKENS, MANAGE_AUDITOR_LINKS),
}


@dataclass(frozen=True)
class RoleDefinition:
    slug: str
    name: str
    description: str
    permissions: tuple[str, ...]


ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition(
        Role.Slug.AUDIT_ADMINISTRATOR.value, "Audit Administrator",
        "Full access: sees and exports every event; configures roles, users, tokens, alerts, retention and streams.",
        tuple(CATALOGUE),
    ),
    RoleDefinition(
        Role.Slug.SECURITY_ANALYST.value, "Security Analyst",
        "Sees every event, searches, exports, keeps saved queries and reads alerts.",
        (VIEW_EVENTS, VIEW_ALL_EVENTS, EXPORT_EVENTS, USE_SAVED_QUERIES, VIEW_ALERTS),
    ),
    RoleDefinition(
        Role.Slug.COMPLIANCE_OFFICER.value, "Compliance Officer",
        "Sees every event, generates reports and evidence packs, reviews who has access. No export of raw events.",
        (VIEW_EVENTS, VIEW_ALL_EVENTS, USE_SAVED_QUERIES, GENERATE_REPORTS, GENERATE_EVIDENCE_PACKS, VIEW_ACCESS,
         VIEW_RETENTION),
    ),
    RoleDefinition(
        Role.Slug.MANAGER.value, "Manager",
        "Sees the events of the members of their teams, their own included.",
        (VIEW_EVENTS, VIEW_TEAM_EVENTS, VIEW_OWN_EVENTS),
    ),
    RoleDefinition(
        Role.Slug.REGULAR_USER.value, "Regular User",
        "Sees only the events they are the actor of (by username or email).",
        (VIEW_EVENTS, VIEW_OWN_EVENTS),
    ),
    RoleDefinition(
        Role.Slug.EXTERNAL_AUDITOR.value, "External Auditor",
        "Read-only: sees the events inside a fixed time window, until the access expires.",
        (VIEW_EVENTS, VIEW_ALL_EVENTS),
    ),
)
ROLE_BY_SLUG = {role.slug: role for role in ROLES}


def roles_sync(apps=None) -> None:
    """Make the permission catalogue and the built-in roles in the database match this module.

    Called from migrations with their historical `apps`; it creates the Permission rows itself
    because Django only creates them after all migrations have run.
    """
    if apps is None:
        from django.apps import apps
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    RoleModel = apps.get_model("rbac", "Role")

    content_types = {
        "events": ContentType.objects.get_or_create(app_label="events", model="event")[0],
        "rbac": ContentType.objects.get_or_create(app_label="rbac", model="capability")[0],
    }
    permissions = {}
    for label, name in CATALOGUE.items():
        app_label, codename = label.split(".")
        permission, _ = Permission.objects.get_or_create(
            content_type=content_types[app_label], codename=codename, defaults={"name": name},
        )
        permissions[label] = permission
    for position, definition in enumerate(ROLES):
        role, _ = RoleModel.objects.update_or_create(
            slug=definition.slug,
            defaults={"name": definition.name, "description": definition.description, "position": position},
        )
        role.permissions.set([permissions[label] for label in definition.permissions])
