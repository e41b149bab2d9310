"""The rollups count the console's own records (category `audit`) apart, under `console:<dimension>`
(apps.events.rollups.CONSOLE_PREFIX), so the dashboard shows the events systems sent exactly.

The counts already made mixed both: they are emptied and their states set back to 0, and the
worker's catch-up (rollups_catch_up, every minute; seed_demo runs it too) counts the log again
from the events table. Until it has, the dashboard of the whole log shows what is counted so far
and says how far behind the rollups are (its compliance panel).
"""
from django.db import migrations

RECOUNT = """
TRUNCATE audit_rollup_bucket, audit_rollup_actor;
UPDATE audit_rollup_state SET seq = 0;
UPDATE audit_rollup_actor_state SET seq = 0;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0013_viewer_models_moved'),
    ]

    operations = [
        migrations.RunSQL(RECOUNT, reverse_sql=RECOUNT),
    ]
