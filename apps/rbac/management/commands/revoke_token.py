"""Revoke an API token by its prefix (the first characters shown at issue)."""
from django.core.management.base import BaseCommand, CommandError

from apps.rbac.audit_trail import Actor
from apps.rbac.models import ApiToken
from apps.rbac.tokens import PREFIX_LENGTH, hash_secret, token_revoke


class Command(BaseCommand):
    help = "Revoke an API token, given the full secret or its prefix."

    def add_arguments(self, parser):
        parser.add_argument("token")

    def handle(self, *args, token, **options):
        matches = list(ApiToken.objects.filter(key_hash=hash_secret(token)))
        # Only something as short as a prefix is looked up as one: a full secret that matches no
        # token (a typo, another environment's token) must not revoke whichever token happens to
        # share its first characters.
        if not matches and len(token) <= PREFIX_LENGTH:
            matches = list(ApiToken.objects.filter(prefix=token))
        if len(matches) != 1:
            raise CommandError("no single token matches; give the full secret or an unambiguous prefix")
        token_revoke(token=matches[0], actor=Actor.system("manage.py revoke_token"))
        self.stdout.write(f"revoked {matches[0]}")
