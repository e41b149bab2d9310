"""`retention_policies export FILE.yaml` / `retention_policies import FILE.yaml` (seed 001's shape)."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.rbac.audit_trail import Actor
from apps.retention.policies import PolicyError
from apps.retention.policy_files import policies_export, policies_import


class Command(BaseCommand):
    help = "Export retention policies to YAML, or import them from YAML (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["import", "export"])
        parser.add_argument("file", help="YAML file (`-` for standard input/output)")

    def handle(self, *args, action, file, **options):
        if action == "export":
            text = policies_export()
            if file == "-":
                self.stdout.write(text)
            else:
                Path(file).write_text(text)
                self.stdout.write(f"exported to {file}")
            return
        try:
            text = self.stdin.read() if file == "-" else Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"file: cannot read {file}: {exc.strerror}") from None
        try:
            saved = policies_import(text, actor=Actor.system("retention_policies"))
        except PolicyError as error:
            raise CommandError(f"nothing imported: {error}") from None
        self.stdout.write(f"imported {len(saved)} polic{'y' if len(saved) == 1 else 'ies'}: "
                          + ", ".join(p.name for p in saved))
