"""First-run set-up for `make run`: demo events, a superuser and an ingest token, then how to use them."""
import json
import shlex

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.demo.generator.bootstrap import demo_admin_ensure, demo_ingest_token_ensure
from apps.events.models import ChainHead

PASSWORD_FILE = ".demo-admin-password"
TOKEN_FILE = ".demo-ingest-token"
SAMPLE_EVENT = {
    "action": "auth.login",
    "outcome": "success",
    "actor": {"type": "user", "id": "usr_demo", "email": "you@example.com"},
    "ip_address": "203.0.113.7",
    "auth_method": "password",
    "description": "You signed in from the curl example.",
}


class Command(BaseCommand):
    help = ("Seed demo events when the log is empty, make the superuser 'admin' and a demo ingest token "
            "once, and print how to sign in and send events. Safe to run on every start.")

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=50_000, help="Events to seed into an empty log (default 50,000).")
        parser.add_argument("--days", type=int, default=30, help="Days they span (default 30).")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the console is served (for the messages).")

    def handle(self, *args, events, days, url, **options):
        url = url.rstrip("/")
        base = settings.BASE_DIR
        # The chain head knows whether anything was ever appended, without reading events.
        if ChainHead.objects.filter(seq__gt=0).exists():
            self.stdout.write("Demo data: the log already holds events; nothing seeded.")
        else:
            self.stdout.write(f"Demo data: the log is empty, seeding {events:,} demo events over the last {days} days.")
            call_command("seed_demo", events=events, days=days, stdout=self.stdout, verbosity=0)

        admin = demo_admin_ensure(password_file=base / PASSWORD_FILE)
        if not admin.is_superuser:
            self.stdout.write(self.style.WARNING(
                f"A user named {admin.username} exists but is not a superuser; it was left alone."
            ))
        elif admin.password:
            if admin.created:
                self.stdout.write(f"Created the superuser {admin.username} (password saved in {PASSWORD_FILE}).")
            self.stdout.write(self.style.SUCCESS(f"Sign in at {url}/ as {admin.username} / {admin.password}"))
        else:
            self.stdout.write(
                f"Sign in at {url}/ as {admin.username}: its password was set earlier and is not the one "
                f"saved in {PASSWORD_FILE} (if any). Change it with: manage.py changepassword {admin.username}"
            )

        secret, created = demo_ingest_token_ensure(token_file=base / TOKEN_FILE)
        if created:
            self.stdout.write(f"Issued a demo ingest token (saved in {TOKEN_FILE}).")
        self.stdout.write(f"Demo ingest token: {secret}")
        body = json.dumps(SAMPLE_EVENT)
        self.stdout.write("Send an event:")
        self.stdout.write(
            f"  curl -sS -X POST {url}/api/v1/events \\\n"
            f"    -H {shlex.quote('Authorization: Bearer ' + secret)} \\\n"
            f"    -H 'Content-Type: application/json' \\\n"
            f"    -d {shlex.quote(body)}"
        )
