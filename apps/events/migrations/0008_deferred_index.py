"""The list of audit_event's indexes a bulk load of demo events has dropped and not built again.

seed_demo drops the secondary indexes of the events table for a large load and builds them
after it (apps.demo.generator.bulk). Each dropped index is written here, with its definition,
in the transaction that drops it, and removed in the transaction that builds it again: if a
load is killed half-way, this says what is missing, and the next seed_demo builds it. The
table is bookkeeping of that module alone, read and written by its SQL, so it has no model.
"""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0007_query_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE TABLE audit_deferred_index ("
            " name text PRIMARY KEY,"
            " definition text NOT NULL,"
            " dropped_at timestamptz NOT NULL DEFAULT now())",
            "DROP TABLE audit_deferred_index",
        ),
    ]
