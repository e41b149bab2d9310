"""UserPreference and SavedQuery moved to the viewer app (viewer 0001): state only, no SQL."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0012_stored_search_text'),
        ('viewer', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='SavedQuery'),
                migrations.DeleteModel(name='UserPreference'),
            ],
        ),
    ]
