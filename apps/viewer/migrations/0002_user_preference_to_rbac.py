"""UserPreference moved to the rbac app (rbac 0008): state only, no SQL."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('viewer', '0001_initial'),
        ('rbac', '0008_user_preference'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='UserPreference'),
            ],
        ),
    ]
