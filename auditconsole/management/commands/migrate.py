"""`manage.py migrate`, run as the owner of the schema, then granting the console's own role.

With DATABASE_OWNER_URL set (README, "Database roles"), the migrations run logged in as that
role, which owns every table they create; the console's role (DATABASE_URL's user) then gets
exactly the privileges of apps/events/db_roles.py, on every table, old and new. Without it, this
is Django's migrate, unchanged.
"""
from django.conf import settings
from django.core.management.commands import migrate
from django.db import connections

from apps.events.db_roles import connected_as, grant_console_role


class Command(migrate.Command):
    help = migrate.Command.help + " Runs as DATABASE_OWNER_URL's role when set, then grants the console's role."

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        with connected_as(connection, settings.DATABASE_OWNER):
            super().handle(*args, **options)
            role = settings.CONSOLE_DB_ROLE
            if role:
                with connection.cursor() as cursor:
                    tables = grant_console_role(cursor, role)
                if options["verbosity"] >= 1:
                    self.stdout.write(f"Granted the console's role {role}: read and append only on {', '.join(tables)}.")
