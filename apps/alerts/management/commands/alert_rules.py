"""`manage.py alert_rules import FILE.yaml` / `manage.py alert_rules export FILE.yaml` (seed 001's shape).

Import checks every rule first and stores nothing unless all are valid; each change is recorded
in the chained log with the command line as the actor. `-` means standard input or output.
"""
import sys

from django.core.management.base import BaseCommand, CommandError

from apps.alerts.rules_yaml import RulesFileInvalid, rules_export, rules_import


class Command(BaseCommand):
    help = "Import or export alert rules as YAML (seed 001's shape)."

    def add_arguments(self, parser):
        parser.add_argument("direction", choices=["import", "export"])
        parser.add_argument("file", help="YAML file, or - for standard input/output")

    def handle(self, *args, direction, file, **options):
        if direction == "export":
            text = rules_export()
            if file == "-":
                self.stdout.write(text, ending="")
            else:
                with open(file, "w", encoding="utf-8") as handle:
                    handle.write(text)
                self.stdout.write(f"exported to {file}")
            return
        try:
            text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        try:
            result = rules_import(text, principal=None)
        except RulesFileInvalid as invalid:
            raise CommandError("nothing imported:\n" + "\n".join(f"  {e}" for e in invalid.errors)) from None
        self.stdout.write(f"imported {len(result['created'])} new rule(s), updated {len(result['updated'])}")
