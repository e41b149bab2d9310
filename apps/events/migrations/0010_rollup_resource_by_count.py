"""An index of the day rollups of resources ordered by count, for the dashboard's top resources.

apps.dashboard.reads.rollup_top_bounded reads each day's largest resource counts (the
threshold algorithm). Without an index ordered by count, finding a day's 50 largest reads every
resource row of that day: some 110,000 at 10 million events over 90 days, 3.4 s for a 30-day
dashboard. With this index it is 50 index entries a day (INCLUDE value: no heap visit).

Only day rows of the resource dimension: the other dimensions have a few dozen values a
bucket, and the 24-hour view reads hour rows, which are a few thousand an hour. The cost is at
ingest: `count` becomes an indexed column, so the rollups' updates are no longer HOT
(BENCHMARKS.md, dashboard section, says what that costs an append).

CONCURRENTLY, so that a large log keeps taking events while it is built (hence not atomic).
"""
from django.db import migrations

NAME = "rollup_bucket_day_resource_by_count"


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("events", "0009_rollup_actor"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON audit_rollup_bucket (bucket_start, count DESC)"
            " INCLUDE (value) WHERE granularity = 'day' AND dimension = 'resource'",
            f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}",
        ),
    ]
