"""Rules as code: `manage.py alert_rules import|export` in seed 001's YAML shape."""
from __future__ import annotations

import pytest
import yaml
from django.core.management import CommandError, call_command

from apps.alerts.models import AlertRule

# Seed 001's example, as written there.
SEED_001 = '''name: "Multiple Failed Login Attempts"
condition: "event_type:authentication.login AND status:failed"
threshold:
  count: 5
  window: 5m
  group_by: actor.email
notification:
  channels: [email, slack]
  recipients: [security@company.com]
  severity: high
'''

EVERY_KIND = '''- name: Brute force that worked
  description: failures then a success
  condition: action:auth.login AND outcome:failure
  sequence: {then: action:auth.login AND outcome:success, count: 5, within: 30m, group_by: actor}
  notification: {channels: [pagerduty], severity: critical}
- name: New address
  enabled: false
  condition: action:auth.login AND outcome:success
  first_seen: {field: ip, group_by: actor, learning: 7d}
  notification: {severity: medium}
- name: Backups stopped
  condition: action:backup.completed
  absence: {window: 1h}
  notification: {severity: high}
- name: Night admin
  condition: category:iam
  group_by: [actor, project]
  working_hours: 08:00-19:00 Mon-Fri Europe/Paris
  notification: {severity: low}
'''


def _export(tmp_path, name="out.yaml") -> str:
    path = tmp_path / name
    call_command("alert_rules", "export", str(path))
    return path.read_text()


def test_seed_001s_example_imports_as_a_threshold_rule_and_exports_back_the_same(db, tmp_path):
    AlertRule.objects.all().delete()
    source = tmp_path / "rules.yaml"
    source.write_text(SEED_001)
    call_command("alert_rules", "import", str(source))
    rule = AlertRule.objects.get()
    assert (rule.kind, rule.threshold, rule.window, rule.group_by, rule.severity) == (
        "threshold", 5, "5m", ["actor.email"], "high")
    assert rule.channels == ["email", "slack"] and rule.recipients == ["security@company.com"]
    exported = _export(tmp_path)
    assert yaml.safe_load(exported) == yaml.safe_load(SEED_001)


def test_every_kind_round_trips_exactly(db, tmp_path):
    AlertRule.objects.all().delete()
    source = tmp_path / "rules.yaml"
    source.write_text(EVERY_KIND)
    call_command("alert_rules", "import", str(source))
    first = _export(tmp_path, "first.yaml")
    assert sorted(yaml.safe_load(first), key=lambda d: d["name"]) == sorted(yaml.safe_load(EVERY_KIND),
                                                                            key=lambda d: d["name"])
    AlertRule.objects.all().delete()
    (tmp_path / "again.yaml").write_text(first)
    call_command("alert_rules", "import", str(tmp_path / "again.yaml"))
    assert _export(tmp_path, "second.yaml") == first


def test_importing_a_rule_of_the_same_name_updates_it(db, tmp_path):
    source = tmp_path / "rules.yaml"
    source.write_text(SEED_001)
    call_command("alert_rules", "import", str(source))
    source.write_text(SEED_001.replace("count: 5", "count: 8"))
    call_command("alert_rules", "import", str(source))
    assert AlertRule.objects.get(name="Multiple Failed Login Attempts").threshold == 8


@pytest.mark.parametrize("change, message", [
    (("status:failed", "status:(failed"), "rule 1 (Multiple Failed Login Attempts): condition: does not parse"),
    (("window: 5m", "window: 0s"), "threshold.window: '0s' is an empty window"),
    (("group_by: actor.email", "group_by: colour"), "threshold.group_by: unknown field 'colour'"),
    (("severity: high", "severity: urgent"), "notification.severity: one of info, low, medium, high, critical"),
    (("count: 5", "cuont: 5"), None),
])
def test_a_bad_file_imports_nothing_and_names_the_rule_and_field(db, tmp_path, change, message):
    before = AlertRule.objects.count()
    source = tmp_path / "rules.yaml"
    # Two rules; the second one is bad.
    source.write_text("- " + SEED_001.replace("\n", "\n  ").rstrip() + "\n"
                      + "- " + SEED_001.replace("Multiple", "Second").replace(*change).replace("\n", "\n  ").rstrip())
    with pytest.raises(CommandError) as error:
        call_command("alert_rules", "import", str(source))
    text = str(error.value)
    if message is None:
        assert "rule 2 (Second Failed Login Attempts): threshold: unknown key(s) cuont" in text
    else:
        assert message.replace("Multiple", "Second").replace("rule 1", "rule 2") in text
    assert AlertRule.objects.count() == before


def test_a_file_that_is_not_yaml_is_refused_cleanly(db, tmp_path):
    source = tmp_path / "rules.yaml"
    source.write_text("name: [unclosed")
    with pytest.raises(CommandError, match="not YAML"):
        call_command("alert_rules", "import", str(source))
