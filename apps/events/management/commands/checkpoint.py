"""Sign a checkpoint at the current head of the chain, or print the public key."""
from django.core.management.base import BaseCommand

from apps.events import signing
from apps.events.chain import checkpoint_create, hash_label
from apps.events.witness import witness_publish


class Command(BaseCommand):
    help = "Sign a checkpoint at the chain head (--public-key prints the verifying key instead)."

    def add_arguments(self, parser):
        parser.add_argument("--public-key", action="store_true", help="Print the PEM public key and exit.")

    def handle(self, *args, public_key=False, **options):
        if public_key:
            self.stdout.write(signing.public_key_pem().rstrip())
            return
        checkpoint = checkpoint_create()
        if checkpoint is None:
            self.stdout.write("no events yet: nothing to sign")
            return
        self.stdout.write(f"checkpoint at seq {checkpoint.seq}: {hash_label(checkpoint.hash)} (key {checkpoint.key_id})")
        witness_publish()
