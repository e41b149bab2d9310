from django.db import migrations

# Plain PostgreSQL triggers rather than django-pgtrigger's: pgtrigger's generated functions
# skip themselves when the session setting `pgtrigger.ignore` names them, and any role that
# may write the table can set that, so append-only would be one SET away. These have no such
# switch: only the table's owner (ALTER TABLE ... DISABLE TRIGGER) or a superuser can get
# around them, and the hash chain and signed checkpoints detect what they do.
# Statement-level BEFORE triggers refuse the statement itself, whatever rows it would touch.
TABLES = ("audit_event", "audit_checkpoint")

FORWARD = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'The audit log only grows; retention is the only way out.';
END
$$;
""" + "".join(
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();\n"
    for table in TABLES
    for op in ("UPDATE", "DELETE", "TRUNCATE")
)

REVERSE = "".join(
    f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()} ON {table};\n"
    for table in TABLES
    for op in ("UPDATE", "DELETE", "TRUNCATE")
) + "DROP FUNCTION IF EXISTS audit_refuse_change();\n"


class Migration(migrations.Migration):
    dependencies = [("events", "0002_chain_head_row")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
