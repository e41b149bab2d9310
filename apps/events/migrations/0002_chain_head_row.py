from django.db import migrations


def create_head(apps, schema_editor):
    ChainHead = apps.get_model("events", "ChainHead")
    ChainHead.objects.get_or_create(id=1, defaults={"seq": 0, "hash": bytes(32)})


class Migration(migrations.Migration):
    """The single chain-head row every append locks (see apps.events.chain)."""

    dependencies = [("events", "0001_initial")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
