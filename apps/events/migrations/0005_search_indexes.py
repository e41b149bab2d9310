"""Indexes for searching the log at scale (GET /api/v1/audit-logs, search, export, the viewer).

Every filter of the read API, alone or with a time range, should answer its first page from an
index; bench/query.py measures them at 1 and 10 million events and writes the plans to
bench/plans/. What each index is for is said beside it in apps.events.models.Event.Meta.

The indexes are built CONCURRENTLY (so the migration is not atomic): on a log that already
holds millions of events a plain CREATE INDEX would block ingest for the whole build. pg_trgm is
a trusted extension (PostgreSQL 13+), so the database owner may create it.
"""
import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models

import apps.events.models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("events", "0004_user_preference_saved_query"),
    ]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(fields=["severity", "occurred_at"], name="event_severity_time"),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(fields=["category", "occurred_at"], name="event_category_time"),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(fields=["auth_method", "occurred_at"], name="event_auth_method_time"),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(
                django.db.models.functions.text.Upper("actor_name"), models.F("occurred_at"),
                name="event_actor_name_ci_time",
            ),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(condition=~models.Q(request_id=""), fields=["request_id"], name="event_request"),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(condition=~models.Q(session_id=""), fields=["session_id"], name="event_session"),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=django.contrib.postgres.indexes.GinIndex(fields=["tags"], name="event_tags"),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(apps.events.models.SearchExpression(), name="gin_trgm_ops"),
                name="event_search_trgm",
            ),
        ),
    ]
