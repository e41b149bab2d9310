"""Revoke an API token by its prefix (the first characters shown at issue)."""
from django.core.management.base import BaseCommand, CommandError

from apps.rbac.models import ApiToken
from apps.rbac.tokens import hash_secret, token_revoke


class Command(BaseCommand):
    help = "Revoke an API token, given the full secret or its prefix."

    def add_arguments(self, parser):
        parser.add_argument("token")

    def handle(self, *args, token, **options):
        matches = list(ApiToken.objects.filter(key_hash=hash_secret(token))) or list(ApiToken.objects.filter(prefix=token[:10]))
        if len(matches) != 1:
            raise CommandError("no single token matches; give the full secret or an unambiguous prefix")
        token_revoke(token=matches[0])
        self.stdout.write(f"revoked {matches[0]}")
