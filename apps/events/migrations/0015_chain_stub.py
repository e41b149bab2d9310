"""Chain stubs: what stays in the database of an event retention archived and removed.

The stub table is append-only like the events table (the same refusing trigger function of
0003). Which rows of audit_event may be deleted, and only those, is decided by the retention
app's migration, which replaces the DELETE trigger of 0003 (it needs the retention app's
segment manifests).
"""
from django.db import migrations, models

FORWARD = "".join(
    f"CREATE TRIGGER audit_chain_stub_no_{op.lower()} BEFORE {op} ON audit_chain_stub "
    f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();\n"
    for op in ("UPDATE", "DELETE", "TRUNCATE")
)
REVERSE = "".join(
    f"DROP TRIGGER IF EXISTS audit_chain_stub_no_{op.lower()} ON audit_chain_stub;\n"
    for op in ("UPDATE", "DELETE", "TRUNCATE")
)


class Migration(migrations.Migration):
    dependencies = [("events", "0014_rollups_console_apart")]

    operations = [
        migrations.CreateModel(
            name="ChainStub",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("hash", models.BinaryField()),
                ("prev_hash", models.BinaryField()),
                ("occurred_at", models.DateTimeField()),
                ("segment_id", models.BigIntegerField(db_index=True)),
            ],
            options={"db_table": "audit_chain_stub", "ordering": ["seq"]},
        ),
        migrations.RunSQL(FORWARD, REVERSE),
    ]
