"""Indexes for the visibility rule's case-insensitive actor match (apps.rbac.scoping).

A Regular User or Manager sees the events whose actor_id or actor_email equals a username or
email regardless of case; Django writes that as UPPER(column) = UPPER(value), which the plain
column indexes of the events table cannot serve. These expression indexes (with occurred_at,
for the newest-first page) keep a regular user's list from scanning the whole log. They live
here, beside the rule that needs them, rather than in the events app's model.
"""
from django.db import migrations

INDEXES = {
    "event_actor_id_ci_time": "(upper(actor_id), occurred_at)",
    "event_actor_email_ci_time": "(upper(actor_email), occurred_at)",
}


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0001_initial"),
        ("rbac", "0003_builtin_roles"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON audit_event {columns}",
            f"DROP INDEX IF EXISTS {name}",
        )
        for name, columns in INDEXES.items()
    ]
