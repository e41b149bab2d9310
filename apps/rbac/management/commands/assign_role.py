"""Give a user a role (creating the user when missing), optionally limited to projects and on a team."""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.rbac.assignments import role_assign, role_by_name
from apps.rbac.audit_trail import Actor
from apps.rbac.models import Role, RoleAssignment
from apps.rbac.refusals import AccessRefused
from apps.rbac.teams import team_get_or_create, team_member_add
from apps.rbac.users import user_create


class Command(BaseCommand):
    help = ("Assign ROLE to USERNAME, creating the user when missing. Roles: "
            + ", ".join(slug for slug, _ in Role.Slug.choices) + ".")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", help="A role's slug or name, e.g. security-analyst or 'Security Analyst'.")
        parser.add_argument("--project", action="append", dest="projects", default=[],
                            help="Limit the role to a project (repeatable).")
        parser.add_argument("--team", help="Make the user a member of this team (created when missing).")
        parser.add_argument("--email", default="", help="Email of a user created by this command.")
        parser.add_argument("--password", help="Password of a user created by this command (else they have none).")

    def handle(self, *args, username, role, projects, team=None, email="", password=None, **options):
        found = role_by_name(role)
        if found is None:
            raise CommandError(f"no role '{role}'; use one of {', '.join(slug for slug, _ in Role.Slug.choices)}")
        if found.slug == Role.Slug.EXTERNAL_AUDITOR:
            raise CommandError("an external auditor needs a window and an expiry: create an auditor link in the "
                               "console (Access → Auditor links) or run issue_token --scope auditor")
        actor = Actor.system("manage.py assign_role")
        User = get_user_model()
        try:
            with transaction.atomic():
                user = User.objects.filter(username=username).first()
                created = user is None
                if created:
                    if password:
                        try:
                            validate_password(password, User(username=username, email=email))
                        except ValidationError as error:
                            raise CommandError("--password: " + " ".join(error.messages)) from None
                    user = user_create(actor=actor, username=username, email=email, password=password).user
                existing = RoleAssignment.objects.filter(user=user, role=found).first()
                teams = list(existing.teams.all()) if existing else []
                role_assign(actor=actor, user=user, role=found, projects=projects, teams=teams)
                if team:
                    group = team_get_or_create(actor=actor, name=team)
                    if not group.members.filter(pk=user.pk).exists():
                        team_member_add(actor=actor, team=group, user=user)
        except AccessRefused as refusal:
            raise CommandError(refusal.message) from None
        where = f" in {', '.join(sorted(set(projects)))}" if projects else ""
        self.stdout.write(f"{'created ' if created else ''}{user.get_username()}: {found.name}{where}"
                          + (f", member of {team}" if team else ""))
