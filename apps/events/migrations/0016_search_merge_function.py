from django.db import migrations

# Merging the search index's pending list (apps.events.bulk_load) takes the index's owner, and
# the console runs as a role that owns nothing (README, Database roles). This function, made by
# the owner, merges that one index and does nothing else: it changes no row, only where the
# index keeps its newest entries.
FORWARD = """
CREATE OR REPLACE FUNCTION audit_search_merge_pending() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT gin_clean_pending_list('event_search_trgm'::regclass)
$$;
REVOKE ALL ON FUNCTION audit_search_merge_pending() FROM PUBLIC;
"""
REVERSE = "DROP FUNCTION IF EXISTS audit_search_merge_pending();"


class Migration(migrations.Migration):
    dependencies = [("events", "0015_chain_stub")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
