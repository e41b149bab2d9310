"""A built-in detection for stream destinations that stop delivering.

apps.streams marks a destination failing after N consecutive failed deliveries and writes that
into the chained log as `audit.streams.failing` (severity high, the destination as resource).
The alert fires once per destination while it stays failing (one open alert per group).
"""
from django.db import migrations

RULE = dict(
    builtin="stream-failing", name="Stream destination failing", kind="match", severity="high",
    description="A stream destination (SIEM, bucket, bus) failed several deliveries in a row and was marked "
                "failing: events are piling up behind its cursor. Open the destination's status page.",
    condition="action:audit.streams.failing", group_by=["resource.id"],
)


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    ChainHead = apps.get_model("events", "ChainHead")
    if AlertRule.objects.filter(builtin=RULE["builtin"]).exists():
        return
    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    AlertRule.objects.create(enabled=True, last_seq=head, **RULE)


def uninstall(apps, schema_editor):
    apps.get_model("alerts", "AlertRule").objects.filter(builtin=RULE["builtin"]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_builtin_rules")]
    operations = [migrations.RunPython(install, uninstall)]
