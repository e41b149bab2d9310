"""The case-insensitive actor indexes of 0004 also carry the column they are built on.

`user_id=x` (the query language's `actor.id:x`) and a user's own events are `UPPER(actor_id) =
UPPER(x)`. An index on the expression alone answers it, but PostgreSQL only considers an
index-only scan when the index holds the columns the query reads, and the query reads
actor_id, not UPPER(actor_id). So the capped count of the viewer and the API ("10,000+")
fetched up to 10,001 heap rows scattered over the whole table: 375 ms at 10 million events for
a busy actor, against a few milliseconds when the index covers the column (INCLUDE). The same
holds for actor_email.

Each index is rebuilt beside the old one and swapped in under the old name, CONCURRENTLY so
that a large log keeps taking events meanwhile (hence not atomic).
"""
from django.db import migrations

INDEXES = {
    "event_actor_id_ci_time": "actor_id",
    "event_actor_email_ci_time": "actor_email",
}


def _rebuilt(*, include: bool) -> list[str]:
    """Statements that rebuild each index (with or without its column) under its own name."""
    statements = []
    for name, column in INDEXES.items():
        built = f"{name}_new"
        columns = f"(upper({column}), occurred_at)" + (f" INCLUDE ({column})" if include else "")
        statements += [
            f"DROP INDEX CONCURRENTLY IF EXISTS {built}",  # left invalid by a build that failed
            f"CREATE INDEX CONCURRENTLY {built} ON audit_event {columns}",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            f"ALTER INDEX {built} RENAME TO {name}",
        ]
    return statements


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("rbac", "0004_event_actor_case_insensitive_indexes"),
    ]

    operations = [
        migrations.RunSQL(_rebuilt(include=True), _rebuilt(include=False)),
    ]
