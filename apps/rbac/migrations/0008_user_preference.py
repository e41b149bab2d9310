"""UserPreference moves here from the viewer (viewer 0002): state only, no SQL.

The table audit_user_preference (created by events 0004) keeps its name and its rows; this
migration only tells Django's state that rbac owns the model now, so that the viewer, the
dashboard and reports (feature apps that may not import one another) all read it.
`migrate` runs no SQL for it.
"""
import apps.rbac.time_zones
import django.contrib.postgres.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rbac', '0007_view_retention'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='UserPreference',
                    fields=[
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='event_preference', serialize=False, to=settings.AUTH_USER_MODEL)),
                        ('time_zone', models.CharField(default='UTC', max_length=64, validators=[apps.rbac.time_zones.validate_time_zone])),
                        ('columns', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=32), blank=True, default=list, size=None)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'audit_user_preference',
                    },
                ),
            ],
        ),
    ]
