"""The viewer's two models, moved from the events app without touching the database.

Their tables (audit_user_preference, audit_saved_query) were created by events 0004 and keep
their names; this migration only tells Django's state that the viewer owns them now, and
events 0013 that the events app no longer does. `migrate` runs no SQL for either.
"""
import apps.rbac.time_zones
import django.contrib.postgres.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('events', '0012_stored_search_text'),
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
                migrations.CreateModel(
                    name='SavedQuery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=120)),
                        ('slug', models.SlugField(max_length=140)),
                        ('description', models.TextField(blank=True, default='')),
                        ('querystring', models.TextField(blank=True, default='')),
                        ('shared', models.BooleanField(default=False)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_queries', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'audit_saved_query',
                        'ordering': ['name', 'pk'],
                        'indexes': [models.Index(condition=models.Q(('shared', True)), fields=['shared', 'name'], name='saved_query_shared')],
                        'constraints': [models.UniqueConstraint(fields=('owner', 'slug'), name='saved_query_slug_per_owner')],
                    },
                ),
            ],
        ),
    ]
