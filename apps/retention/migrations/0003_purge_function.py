from django.db import migrations

# The console's database role holds no DELETE on audit_event (apps/events/db_roles.py). Its one
# way to remove events is this function, which runs with its owner's rights (SECURITY DEFINER,
# with a fixed search_path) and deletes only the seqs of a verified segment (its whole seq range
# when it holds every seq of it, else those with a chain stub pointing to it); the AFTER DELETE
# guard of 0001 still checks every row against its stub and segment.
FORWARD = """
CREATE OR REPLACE FUNCTION retention_purge_segment(segment bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    low bigint;
    high bigint;
    held bigint;
    removed bigint;
BEGIN
    SELECT first_seq, last_seq, count INTO low, high, held FROM retention_segment
     WHERE id = segment AND state = 'verified';
    IF low IS NULL THEN
        RAISE EXCEPTION 'retention segment % is not verified: nothing may leave the events table', segment;
    END IF;
    IF held = high - low + 1 THEN
        -- The segment holds every seq of its range (one policy's events, back to back): one
        -- range scan of the primary key finds exactly its rows (the guard checks each one).
        DELETE FROM audit_event WHERE seq BETWEEN low AND high;
    ELSE
        -- Other policies' events lie in the range too: only the seqs with a stub of this segment.
        DELETE FROM audit_event
         WHERE seq BETWEEN low AND high
           AND seq IN (SELECT seq FROM audit_chain_stub WHERE seq BETWEEN low AND high AND segment_id = segment);
    END IF;
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
