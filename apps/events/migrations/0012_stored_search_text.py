"""Free text searches a stored, lower-cased column instead of an expression built per row.

Until now `"signed in with"` was `(description || ... || metadata::text) ILIKE '%signed in
with%'`: each row it looked at had its nine columns joined, its jsonb metadata turned into text
and the whole lower-cased, about 2.5 µs a row. A phrase of common words is not narrowed by the
trigram index, so its capped count (10,001 matches) reads some 135,000 rows, which took 360 ms
at 10 million events. The generated column `search_text` holds that text already lower-cased,
so the search is `search_text LIKE lower('%signed in with%')`, exactly what ILIKE does on a UTF-8
database, at the cost of reading the column.

The table is rewritten (ADD COLUMN ... STORED), which holds an exclusive lock on audit_event:
ingest waits for the migration (measured in the notes of BENCHMARKS.md). Rows are not updated,
so the append-only triggers do not fire, and the hash chain, which covers the event's own
columns, does not include the column. The trigram index moves to the column; it is dropped
first so that the rewrite does not build it twice.

The column is not a field of events.Event: instances never load it (see models.SearchText).
"""

from django.db import migrations

_EXPRESSION = (
    "description || E'\\x1f' || actor_id || E'\\x1f' || actor_name || E'\\x1f' || actor_email"
    " || E'\\x1f' || resource_type || E'\\x1f' || resource_id || E'\\x1f' || resource_name"
    " || E'\\x1f' || action || E'\\x1f' || metadata::text"
)

FORWARD = [
    "SET LOCAL maintenance_work_mem = '512MB'",
    "DROP INDEX IF EXISTS event_search_trgm",
    f"ALTER TABLE audit_event ADD COLUMN search_text text GENERATED ALWAYS AS (lower({_EXPRESSION})) STORED",
    "CREATE INDEX event_search_trgm ON audit_event USING gin (search_text gin_trgm_ops)",
]

BACKWARD = [
    "DROP INDEX IF EXISTS event_search_trgm",
    "ALTER TABLE audit_event DROP COLUMN search_text",
    f"CREATE INDEX event_search_trgm ON audit_event USING gin (({_EXPRESSION}) gin_trgm_ops)",
]


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0011_rollup_actor_key_covers_count"),
    ]

    operations = [
        migrations.RunSQL(
            sql=FORWARD,
            reverse_sql=BACKWARD,
            state_operations=[migrations.RemoveIndex(model_name="event", name="event_search_trgm")],
        ),
    ]
