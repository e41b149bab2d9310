"""`manage.py sigma_import PATH... [--enable]`: Sigma rules (files or folders of .yml) as alert rules.

Prints each rule accepted or refused with the reason; accepted rules are stored (disabled unless
--enable), each change recorded in the chained log.
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.alerts.sigma.convert import sigma_import


class Command(BaseCommand):
    help = "Import Sigma rules as alert rules (accepted or refused, with the reason)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--enable", action="store_true", help="enable the imported rules")

    def handle(self, *args, paths, enable=False, **options):
        files = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files += sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml"))
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"no such file or folder: {raw}")
        results = sigma_import([(str(f), f.read_text(encoding="utf-8", errors="replace")) for f in files], enable=enable)
        for item in results:
            mark = "accepted" if item.accepted else "refused "
            self.stdout.write(f"{mark} {item.title} ({Path(item.source).name})" + ("" if item.accepted else f": {item.reason}"))
        accepted = sum(1 for item in results if item.accepted)
        self.stdout.write(f"{accepted} accepted, {len(results) - accepted} refused")
