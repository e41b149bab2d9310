"""Access control: roles and their assignments, teams, API tokens and auditor sign-in links; and
each user's preferences (their time zone), which every feature app reads."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from apps.rbac.time_zones import validate_time_zone


class Capability(models.Model):
    """The console's catalogue of permissions; a model only so that they are Django permissions.

    No table: the model exists to carry `Meta.permissions`, so that every capability the console
    checks (`rbac.manage_roles`, `rbac.export_events`, `rbac.generate_reports`, ...) is an
    `auth.Permission` row from the first migration on, including those of apps built later
    (reports, alerts, retention, streams), which check them with `requires("rbac.<codename>")`.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_access", "Can see users, roles, teams, tokens and auditor links"),
            ("manage_users", "Can create, invite, deactivate and reactivate users"),
            ("manage_roles", "Can assign and remove roles"),
            ("manage_teams", "Can create teams and change their members"),
            ("manage_tokens", "Can issue and revoke API tokens"),
            ("manage_auditor_links", "Can create and revoke external auditor sign-in links"),
            ("view_team_events", "Can see the events of the members of their teams"),
            ("view_own_events", "Can see the events they are the actor of"),
            ("export_events", "Can export raw events"),
            ("use_saved_queries", "Can save queries and use shared ones"),
            ("view_alerts", "Can see alert rules and alert history"),
            ("manage_alerts", "Can create, change and delete alert rules and channels"),
            ("generate_reports", "Can generate compliance reports"),
            ("generate_evidence_packs", "Can generate signed evidence packs"),
            ("manage_frameworks", "Can edit the compliance frameworks' control-to-evidence mapping"),
            ("view_retention", "Can see retention policies, legal holds and archive status"),
            ("manage_retention", "Can change retention policies and legal holds"),
            ("manage_streams", "Can configure stream destinations"),
        ]


class Role(models.Model):
    """A named set of permissions (the rows of seed 001's role table, plus the external auditor).

    Roles are fixed by migrations; the console shows them read-only. A role is assigned to a
    user through a RoleAssignment, which can limit it to projects, teams and a time window.
    """

    class Slug(models.TextChoices):
        AUDIT_ADMINISTRATOR = "audit-administrator", "Audit Administrator"
        SECURITY_ANALYST = "security-analyst", "Security Analyst"
        COMPLIANCE_OFFICER = "compliance-officer", "Compliance Officer"
        MANAGER = "manager", "Manager"
        REGULAR_USER = "regular-user", "Regular User"
        EXTERNAL_AUDITOR = "external-auditor", "External Auditor"

    slug = models.SlugField(unique=True, choices=Slug.choices)
    name = models.TextField(unique=True)
    description = models.TextField(blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in which roles are listed.")
    permissions = models.ManyToManyField(Permission, blank=True, related_name="+")

    class Meta:
        db_table = "rbac_role"
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """A group of people; a Manager sees the events of the members of their teams."""

    name = models.TextField(unique=True)
    description = models.TextField(blank=True, default="")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "rbac_team"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RoleAssignmentQuerySet(models.QuerySet):
    def active(self) -> "RoleAssignmentQuerySet":
        now = timezone.now()
        return self.filter(user__is_active=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class RoleAssignment(models.Model):
    """A role held by a user, optionally limited to projects, teams and a time window.

    - projects: the role applies to events of these projects only (empty: every project);
    - teams: for a Manager, whose members' events they see (empty: the teams they belong to);
    - window_start/window_end: only events that occurred inside the window (external auditors);
    - expires_at: the assignment stops counting at this time.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    projects = ArrayField(models.TextField(), default=list, blank=True, help_text="Empty means every project.")
    teams = models.ManyToManyField(Team, blank=True, related_name="+")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = RoleAssignmentQuerySet.as_manager()

    class Meta:
        db_table = "rbac_role_assignment"
        ordering = ["user__username", "role__position"]
        constraints = [
            # One assignment per user and role: its limits are edited in place, so "what can
            # alice do as an analyst" always has one answer.
            models.UniqueConstraint(fields=["user", "role"], name="role_assignment_once_per_role"),
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_start__lt=models.F("window_end")),
                name="role_assignment_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role}"

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> "ApiTokenQuerySet":
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for the HTTP API.

    Only the SHA-256 of the secret is stored: the secret has 256 bits of entropy, so a fast
    hash is enough (as GitHub and Stripe do), and the plain secret is shown once at issue.
    """

    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest (write events)"
        READ = "read", "Read (search and export)"
        AUDITOR = "auditor", "External auditor (read-only, time-boxed)"

    name = models.TextField(blank=True, default="")
    prefix = models.CharField(max_length=16, help_text="The first characters of the secret, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens",
        help_text="When set, the token sees exactly what this user sees.",
    )
    projects = ArrayField(models.TextField(), default=list, blank=True, help_text="Empty means every project.")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "rbac_api_token"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_start__lt=models.F("window_end")),
                name="api_token_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    # Tokens stand in for a user in the visibility rule; these let code treat both alike.
    is_authenticated = True
    is_anonymous = False


class AuditorLinkQuerySet(models.QuerySet):
    def usable(self) -> "AuditorLinkQuerySet":
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class AuditorLink(models.Model):
    """An expiring sign-in link for an external auditor (seed 002's right-to-audit access).

    Opening the link signs its holder in as `user`, a restricted account made for the link: it
    has no password and one External Auditor assignment limited to the link's window, projects
    and expiry. Only the SHA-256 of the link's secret is stored; the link is shown once.
    """

    label = models.TextField(help_text="Who the link is for, e.g. the audit firm and engagement.")
    email = models.EmailField(blank=True, default="")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auditor_link")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    projects = ArrayField(models.TextField(), default=list, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = AuditorLinkQuerySet.as_manager()

    class Meta:
        db_table = "rbac_auditor_link"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(window_start__lt=models.F("window_end")),
                                   name="auditor_link_window_ordered"),
        ]

    def __str__(self) -> str:
        return f"auditor link {self.prefix}… for {self.label}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.expires_at > timezone.now() else "expired"


class UserPreference(models.Model):
    """How one console user likes the console shown: their time zone and the viewer's columns.

    `time_zone` is the zone the dashboard and reports show times in, and the one the viewer
    shows beside UTC (apps.rbac.time_zones). `columns` are the viewer's columns in order
    (apps.viewer.columns); empty means the default set; the viewer remembers the last ones
    picked (its `cols=` parameter) here.

    Kept in this layer (moved from the viewer by rbac 0008 and viewer 0002, state only; the
    table is the one events 0004 created) so that the viewer, the dashboard and reports read
    the same preference without importing one another.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="event_preference")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    columns = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_user_preference"

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"
