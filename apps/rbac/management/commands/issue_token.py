"""Issue an API token; the secret is printed alone on the last line (it is stored hashed)."""
from datetime import datetime, time, timedelta, timezone

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from apps.rbac.audit_trail import Actor
from apps.rbac.models import ApiToken
from apps.rbac.tokens import parse_duration, token_issue


def _when(text: str, option: str, *, end: bool = False):
    """An ISO date or time. A date alone as the window's end covers that whole day."""
    parsed = parse_datetime(text)
    if parsed is None:
        day = parse_date(text)
        if day is not None:
            parsed = datetime.combine(day, time.min, tzinfo=timezone.utc)
            if end:
                parsed += timedelta(days=1)
    if parsed is None:
        raise CommandError(f"{option}: '{text}' is not an ISO 8601 date or time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


class Command(BaseCommand):
    help = "Issue an API token (ingest, read or auditor scope)."

    def add_arguments(self, parser):
        parser.add_argument("--scope", required=True, choices=ApiToken.Scope.values)
        parser.add_argument("--user", help="The token sees what this user sees (read and auditor scopes).")
        parser.add_argument("--project", action="append", dest="projects", default=[], help="Limit to a project (repeatable).")
        parser.add_argument("--start", help="Auditor window start (ISO 8601).")
        parser.add_argument("--end", help="Auditor window end (ISO 8601).")
        parser.add_argument("--expires-in", help="Lifetime such as 30d, 1h or 5s.")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")

    def handle(self, *args, scope, user=None, projects, start=None, end=None, expires_in=None, name="", **options):
        owner = None
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"--user: no user named '{user}'")
        try:
            lifetime = parse_duration(expires_in) if expires_in else None
            issued = token_issue(
                scope=scope,
                user=owner,
                projects=projects,
                window_start=_when(start, "--start") if start else None,
                window_end=_when(end, "--end", end=True) if end else None,
                expires_in=lifetime,
                name=name,
                actor=Actor.system("manage.py issue_token"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        token = issued.token
        details = [f"scope={token.scope}"]
        if owner:
            details.append(f"user={owner.username}")
        if token.projects:
            details.append("projects=" + ",".join(token.projects))
        if token.window_start:
            details.append(f"window={token.window_start.isoformat()}..{token.window_end.isoformat()}")
        if token.expires_at:
            details.append(f"expires={token.expires_at.isoformat()}")
        self.stderr.write("Issued token " + " ".join(details) + ". It is shown once; store it now.")
        self.stdout.write(issued.secret)
