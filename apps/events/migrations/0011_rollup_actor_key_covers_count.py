"""The per-actor rollups' key also carries `count`, so the dashboard sums them from the index.

A Manager's 30-day top resources sums a row per actor, day and resource: some 400,000 at 10
million events, which read from the table's pages took about 300 ms and from the index alone
(an index-only scan, once VACUUM has marked the pages all-visible) a fraction of that. The
table is written by the worker's catch-up only, so the updates this makes non-HOT cost ingest
nothing.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0010_rollup_resource_by_count'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='actorrollupbucket',
            name='rollup_actor_key',
        ),
        migrations.AddConstraint(
            model_name='actorrollupbucket',
            constraint=models.UniqueConstraint(fields=('granularity', 'dimension', 'actor_id', 'actor_email', 'bucket_start', 'value'), include=('count',), name='rollup_actor_key'),
        ),
    ]
