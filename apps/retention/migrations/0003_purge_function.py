from django.db import migrations

# The console's database role holds no DELETE on audit_event (apps/events/db_roles.py). Its one
# way to remove events is this function, which runs with its owner's rights (SECURITY DEFINER,
# with a fixed search_path) and deletes only the seqs of a verified segment that have chain
# stubs pointing to that segment; the AFTER DELETE guard of 0001 still checks every row.
FORWARD = """
CREATE OR REPLACE FUNCTION retention_purge_segment(segment bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    low bigint;
    high bigint;
    removed bigint;
BEGIN
    SELECT first_seq, last_seq INTO low, high FROM retention_segment WHERE id = segment AND state = 'verified';
    IF low IS NULL THEN
        RAISE EXCEPTION 'retention segment % is not verified: nothing may leave the events table', segment;
    END IF;
    DELETE FROM audit_event
     WHERE seq BETWEEN low AND high
       AND seq IN (SELECT seq FROM audit_chain_stub WHERE segment_id = segment);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
REVOKE ALL ON FUNCTION retention_purge_segment(bigint) FROM PUBLIC;
"""
REVERSE = "DROP FUNCTION IF EXISTS retention_purge_segment(bigint);"


class Migration(migrations.Migration):
    dependencies = [("retention", "0002_archived_event")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
