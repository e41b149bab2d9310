"""`retention_vault status|lock|unlock`: the vault lock from the command line (unlock always refuses)."""
from django.core.management.base import BaseCommand, CommandError

from apps.rbac.audit_trail import Actor
from apps.retention.models import VaultLock
from apps.retention.policies import PolicyError, vault_lock, vault_unlock


class Command(BaseCommand):
    help = "Show or set the retention vault lock. Once locked, periods only lengthen; the lock cannot be lifted."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "lock", "unlock"])
        parser.add_argument("--reason", default="")

    def handle(self, *args, action, reason="", **options):
        actor = Actor.system("retention_vault")
        if action == "lock":
            lock = vault_lock(actor=actor, reason=reason)
            self.stdout.write(f"vault locked at {lock.locked_at:%Y-%m-%d %H:%M} UTC by {lock.locked_by}")
        elif action == "unlock":
            try:
                vault_unlock(actor=actor)
            except PolicyError as error:
                raise CommandError(str(error)) from None
        else:
            lock = VaultLock.objects.first()
            self.stdout.write(f"locked since {lock.locked_at:%Y-%m-%d %H:%M} UTC by {lock.locked_by}" if lock else "not locked")
