"""Create the permission catalogue and the six built-in roles (see apps.rbac.roles)."""
from django.db import migrations


def sync(apps, schema_editor):
    from apps.rbac.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("rbac", "0002_roles_teams_auditor_links"),
    ]

    # Going back leaves the rows: the roles table itself goes with 0002.
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
