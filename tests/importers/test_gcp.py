"""GCP Cloud Audit Logs on Google's security-analytics fixtures (GoogleCloudPlatform/security-analytics,
Apache-2.0; shared/realdata/gcp_audit)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.importers.samples_paths import GCP

FILES = sorted(GCP.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_fixture_is_one_imported_event(import_files, path):
    summary = import_files(path)
    assert (summary.files[str(path)], summary.imported, summary.refused, summary.unreadable) == ("gcp", 1, [], [])


def test_two_fixtures_sharing_an_insert_id_are_both_stored(import_files, find):
    summary = import_files(*FILES)
    assert summary.imported == 13
    assert len(find("metadata.insertId:81t06te4dnk4")) == 2


def test_a_service_account_key_admin_grant_becomes_a_change(import_files, find):
    import_files(*FILES)
    [grant] = find("action:iam.admin.set_iam_policy")
    assert (grant.actor_email, grant.actor_type, grant.ip_address) == ("admin@example.com", "user", "203.0.113.255")
    assert (grant.outcome, grant.category, grant.project) == ("success", "iam", "my-project")
    assert (grant.resource_type, grant.resource_id) == ("service_account", "projects/-/serviceAccounts/123456789")
    assert grant.occurred_at == datetime(2022, 5, 2, 21, 52, 50, 425669, tzinfo=timezone.utc)
    assert grant.changes == {"before": {"bindings": []},
                             "after": {"bindings": [{"role": "roles/iam.serviceAccountKeyAdmin", "member": "user:test-user@example.com"}]}}
    assert grant.metadata["protoPayload"]["authorizationInfo"][0]["permission"] == "iam.serviceAccounts.setIamPolicy"


def test_a_workspace_login_failure_and_a_vpc_sc_denial_keep_their_outcomes(import_files, find):
    import_files(*FILES)
    [failure] = find("action:login.* AND outcome:failure")
    assert (failure.actor_email, failure.category) == ("test-user@example.com", "auth")
    [denied] = find("action:storage.objects.get")
    assert (denied.outcome, denied.severity) == ("denied", "high")
    assert denied.metadata["protoPayload"]["metadata"]["violationReason"] == "NO_MATCHING_ACCESS_LEVEL"


def test_the_bigquery_export_shape_is_read_too(import_files, find):
    import_files(GCP / "google.cloud.bigquery.v2.JobService.InsertJob-dataRead.json")
    [job] = find("action:bigquery.job_service.insert_job")
    assert (job.actor_email, job.project, job.category) == ("test-user@example.com", "1234", "data")
    assert job.occurred_at == datetime(2022, 8, 22, 2, 12, 57, 630000, tzinfo=timezone.utc)
