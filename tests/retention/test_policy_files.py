"""`manage.py retention_policies import|export FILE.yaml` in seed 001's shape."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from apps.retention.models import RetentionPolicy

SEED_001 = """
retention_policies:
  - event_types: [authentication.*]
    hot_days: 90
    warm_days: 365
    cold_years: 7

  - event_types: [resource.delete, policy.modify]
    hot_days: 180
    warm_days: 730
    cold_years: 10

  - event_types: [resource.view]
    hot_days: 30
    warm_days: 90
    cold_years: 0
"""


def test_seed_001s_policies_import_and_export_back(db, tmp_path):
    source = tmp_path / "in.yaml"
    source.write_text(SEED_001)
    call_command("retention_policies", "import", str(source))
    deletes = RetentionPolicy.objects.get(event_types=["resource.delete", "policy.modify"])
    assert (deletes.hot_days, deletes.warm_days, deletes.cold_months) == (180, 730, 120)
    assert RetentionPolicy.objects.get(event_types=["resource.view"]).cold_months == 0
    out = tmp_path / "out.yaml"
    call_command("retention_policies", "export", str(out))
    text = out.read_text()
    assert "cold_years: 7" in text and "- resource.delete" in text and "default: true" in text
    # Importing the export again changes nothing.
    call_command("retention_policies", "import", str(out))
    assert RetentionPolicy.objects.count() == 4


@pytest.mark.parametrize("text, message", [
    ("retention_policies:\n  - event_types: [auth.*]\n    hot_days: -1\n    warm_days: 9\n    cold_years: 1\n",
     r"retention_policies\[0\]\.hot_days: cannot be negative"),
    ("retention_policies:\n  - event_types: [auth.*]\n    hot_days: 90\n    warm_days: 30\n    cold_years: 1\n",
     r"retention_policies\[0\]\.warm_days: is shorter than hot_days"),
    ("retention_policies:\n  - event_types: [Auth Login]\n    hot_days: 9\n    warm_days: 30\n    cold_years: 1\n",
     r"retention_policies\[0\]\.event_types: .* matches no event type"),
    ("retention_policies:\n  - event_types: [a.b]\n    hot_days: 9\n    warm_days: 30\n    colder: 1\n",
     r"retention_policies\[0\]\.colder: is not a policy field"),
    ("retention_policies: [", "not YAML"),
])
def test_a_bad_file_is_refused_naming_the_entry_and_field_and_nothing_is_imported(db, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CommandError, match=message):
        call_command("retention_policies", "import", str(path))
    assert RetentionPolicy.objects.count() == 1
