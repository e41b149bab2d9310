"""Event fields are attacker-controlled: every top-level value of a real record of each format,
replaced by values of the wrong type, is either imported or refused with a reason; the import
never fails and never stores half a batch."""
from __future__ import annotations

import io
import json

import pytest

from apps.events.chain_verification import chain_verify
from apps.importers.run import import_run
from tests.importers.samples_paths import FALCO, GCP, OKTA, SAMPLES, STRATUS

ODD_VALUES = [None, 0, -1, 2**63, True, "", "x" * 5000, "\u0000", [], [1, {"a": None}], {}, {"nested": {"deeper": [None]}}]
SEEDS = {
    "cloudtrail": json.loads((STRATUS / "aws.persistence.iam-create-admin-user.json").read_text())[0],
    "gcp": json.loads((GCP / "google.iam.admin.v1.SetIamPolicy-keyAdmin.json").read_text()),
    "kubernetes": json.loads((FALCO / "exec_pod.json").read_text()),
    "okta": json.loads((OKTA / "okta-add-administrator.3_new-user.jsonl").read_text()),
    "github": json.loads((SAMPLES / "github_audit_log.json").read_text())[0],
    "azure_activity": json.loads((SAMPLES / "azure_activity.json").read_text())["records"][0],
    "entra": json.loads((SAMPLES / "entra_signin.json").read_text())["records"][0],
    "otel": json.loads((SAMPLES / "otel_logs.json").read_text()),
}


def _variants(record: dict):
    for key in record:
        for value in ODD_VALUES:
            yield {**record, key: value}


def _otlp_variants():
    """Odd values at each level of an OTLP export: the scope list, the record list, each record field."""
    document = SEEDS["otel"]
    for value in ODD_VALUES:
        resource_logs = dict(document["resourceLogs"][0])
        yield {"resourceLogs": [{**resource_logs, "scopeLogs": value}]}
        yield {"resourceLogs": [{**resource_logs, "resource": value}]}
        scope = dict(resource_logs["scopeLogs"][0])
        yield {"resourceLogs": [{**resource_logs, "scopeLogs": [{**scope, "logRecords": value}]}]}
        for key in scope["logRecords"][0]:
            log = {**scope["logRecords"][0], key: value}
            yield {"resourceLogs": [{**resource_logs, "scopeLogs": [{**scope, "logRecords": [log]}]}]}


def test_odd_values_inside_an_otlp_export_are_refused_never_a_crash(db):
    body = "\n".join(json.dumps(v) for v in _otlp_variants()).encode()
    summary = import_run([("otel.jsonl", io.BytesIO(body))], format="otel")
    assert summary.unreadable == [] and summary.read > 0
    assert summary.imported + summary.duplicates + summary.skipped + len(summary.refused) == summary.read
    assert [p for p in summary.refused if p.reason.startswith("cannot be mapped")] == []


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_wrong_types_in_any_field_are_imported_or_refused_never_a_crash(db, fmt):
    variants = list(_variants(SEEDS[fmt]))
    body = "\n".join(json.dumps(v) for v in variants).encode()
    summary = import_run([(f"{fmt}.jsonl", io.BytesIO(body))], format=fmt, batch_size=50)
    assert summary.unreadable == []
    assert summary.read > 0
    assert summary.imported + summary.duplicates + summary.skipped + len(summary.refused) == summary.read
    assert all(problem.reason for problem in summary.refused)
    # Refusals come from the mapping's or the schema's checks, not from a mapper tripping over a type.
    assert [p for p in summary.refused if p.reason.startswith("cannot be mapped")] == []
    assert chain_verify().valid
