"""GitHub, Azure Activity, Entra ID and OpenTelemetry on fixtures written from the vendors'
documented shapes (tests/importers/samples/README.md says which document each follows)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.importers.samples_paths import SAMPLES


@pytest.mark.parametrize("name,fmt,count", [
    ("github_audit_log.json", "github", 3), ("github_audit_log.csv", "github", 3),
    ("github_streaming.jsonl", "github", 2), ("azure_activity.json", "azure_activity", 2),
    ("entra_audit.json", "entra", 1), ("entra_signin.json", "entra", 3), ("otel_logs.json", "otel", 2),
])
def test_each_fixture_is_detected_and_imported_whole(import_files, name, fmt, count):
    summary = import_files(SAMPLES / name)
    assert (summary.files[str(SAMPLES / name)], summary.imported, summary.refused, summary.unreadable) == (fmt, count, [], [])
    assert import_files(SAMPLES / name, format=fmt).duplicates == count


def test_github_json_export_maps_actor_resource_and_organisation(import_files, find):
    import_files(SAMPLES / "github_audit_log.json")
    [created] = find("action:github.repo.create")
    assert (created.actor_name, created.actor_id, created.actor_type) == ("octocat", "583231", "user")
    assert (created.ip_address, created.project, created.outcome) == ("192.0.2.10", "octo-org", "success")
    assert (created.resource_type, created.resource_id, created.resource_name) == ("repository", "octo-org/payments-api", "payments-api")
    assert created.occurred_at == datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)
    [member] = find("action:github.org.add_member AND resource:mallory")
    assert member.metadata["permission"] == "admin"
    [bot] = find("action:github.protected_branch.destroy")
    assert (bot.actor_type, bot.auth_method) == ("service", "token")


def test_github_csv_keeps_text_and_reads_millisecond_times(import_files, find):
    import_files(SAMPLES / "github_audit_log.csv")
    [destroyed] = find("action:github.repo.destroy")
    assert destroyed.occurred_at == datetime(2024, 6, 2, 10, 0, tzinfo=timezone.utc)
    assert destroyed.resource_id == "octo-org/legacy-tool" and destroyed.metadata["org_id"] == "9919"
    [oauth] = find("action:github.oauth_application.create")
    # A formula in a CSV cell is kept as text, not an address; exports escape it (formula injection).
    assert oauth.ip_address is None and oauth.metadata["actor_ip"] == '=HYPERLINK("http://evil.example")'


def test_github_streaming_shape_and_a_denied_action(import_files, find):
    import_files(SAMPLES / "github_streaming.jsonl")
    [clone] = find("action:github.git.clone")
    assert (clone.category, clone.auth_method, clone.user_agent) == ("data", "token", "git/2.45.1")
    [denied] = find("action:github.org.oauth_app_access_denied")
    assert (denied.outcome, denied.actor_name, denied.ip_address) == ("denied", "mallory", "203.0.113.99")


def test_azure_activity_maps_claims_and_refusals(import_files, find):
    import_files(SAMPLES / "azure_activity.json")
    [vm] = find("action:azure.microsoft.compute/virtualmachines/write")
    assert (vm.actor_email, vm.actor_name, vm.actor_id) == ("dana@contoso.com", "Dana Kim", "a1b2c3d4-0000-4000-8000-000000000001")
    assert (vm.outcome, vm.ip_address, vm.region) == ("success", "203.0.113.50", "westeurope")
    assert (vm.project, vm.resource_type, vm.resource_name) == ("8B2A5C1E-1111-4A6B-9C3D-2E4F6A8B0C1D", "virtualmachines", "PAY-VM-01")
    assert vm.occurred_at == datetime(2024, 5, 14, 9, 12, 44, 123456, tzinfo=timezone.utc)
    [refused] = find("actor:mallory@contoso.com AND outcome:denied")
    assert (refused.action, refused.severity) == ("azure.microsoft.authorization/roleassignments/write", "high")


def test_an_entra_global_administrator_grant_is_a_change(import_files, find):
    import_files(SAMPLES / "entra_audit.json")
    [grant] = find("action:entra.role_management.add_member_to_role AND actor:dana@contoso.com")
    assert (grant.resource_type, grant.resource_name, grant.outcome) == ("User", "mallory@contoso.com", "success")
    assert grant.changes["after"]["Role.DisplayName"] == '"Global Administrator"'
    assert grant.ip_address == "203.0.113.50"


def test_entra_sign_ins_tell_success_failure_and_blocks(import_files, find):
    import_files(SAMPLES / "entra_signin.json")
    [ok] = find("action:entra.sign_in AND outcome:success")
    assert (ok.actor_email, ok.auth_method, ok.region, ok.resource_name) == ("dana@contoso.com", "mfa", "DE", "Azure Portal")
    [bad_password] = find("action:entra.sign_in AND outcome:failure")
    assert bad_password.metadata["properties"]["status"]["errorCode"] == 50126
    [blocked] = find("action:entra.sign_in AND outcome:denied")
    assert (blocked.actor_email, blocked.ip_address) == ("mallory@contoso.com", "198.51.100.77")


def test_otlp_log_records_map_semantic_convention_attributes(import_files, find):
    import_files(SAMPLES / "otel_logs.json")
    [refund] = find("action:invoice.refund")
    assert (refund.actor_id, refund.actor_email, refund.ip_address) == ("u-1001", "dana@contoso.com", "203.0.113.50")
    assert (refund.outcome, refund.request_method, refund.request_path, refund.status_code) == (
        "success", "POST", "/v1/invoices/INV-2024-0042/refund", 200)
    assert (refund.resource_type, refund.resource_id, refund.project, refund.region) == ("invoice", "INV-2024-0042", "payments", "eu-west-1")
    assert refund.trace_id == "5b8efff798038103d269b633813fc60c"
    assert refund.occurred_at == datetime(2024, 5, 14, 9, 0, 0, 123457, tzinfo=timezone.utc)
    assert refund.metadata["attributes"]["refund.amount"] == 129.5
    assert refund.metadata["resourceAttributes"]["service.name"] == "billing-api"
    [error] = find("action:otel.log")
    assert (error.outcome, error.severity, error.description) == ("error", "high", "refund service unavailable")


def _import_json(document, fmt="auto"):
    import io
    import json

    from apps.importers.run import import_run

    return import_run([("doc.json", io.BytesIO(json.dumps(document).encode()))], format=fmt)


def test_the_azure_rest_api_shape_is_read_too(db, find):
    # Azure Monitor REST API, Activity Logs - List: a page of EventData with {"value", "localizedValue"} names.
    page = {"value": [{
        "caller": "dana@contoso.com", "eventTimestamp": "2024-05-15T07:00:00.5Z",
        "eventDataId": "d1e2f3a4-0000-4000-8000-000000000042", "correlationId": "c0c0c0c0-0000-4000-8000-000000000042",
        "operationName": {"value": "Microsoft.Storage/storageAccounts/listKeys/action", "localizedValue": "List Storage Account Keys"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "status": {"value": "Succeeded", "localizedValue": "Succeeded"}, "subStatus": {"value": "OK"},
        "level": "Informational", "resourceGroupName": "payments-rg",
        "resourceId": "/subscriptions/8b2a5c1e-1111-4a6b-9c3d-2e4f6a8b0c1d/resourceGroups/payments-rg/providers/Microsoft.Storage/storageAccounts/paydata",
        "subscriptionId": "8b2a5c1e-1111-4a6b-9c3d-2e4f6a8b0c1d", "httpRequest": {"clientIpAddress": "203.0.113.50", "method": "POST"},
    }]}
    summary = _import_json(page)
    assert (summary.files["doc.json"], summary.imported) == ("azure_activity", 1)
    [keys] = find("action:azure.microsoft.storage/storageaccounts/listkeys/action")
    assert (keys.actor_email, keys.outcome, keys.ip_address, keys.resource_name) == ("dana@contoso.com", "success", "203.0.113.50", "paydata")
    assert keys.project == "8b2a5c1e-1111-4a6b-9c3d-2e4f6a8b0c1d"


def test_a_graph_sign_in_page_is_read_as_entra(db, find):
    page = {"value": [{"id": "66ea54eb-6301-4ee5-be62-ff5a759b0100", "createdDateTime": "2024-05-15T08:00:00Z",
                       "userPrincipalName": "mallory@contoso.com", "userId": "u-666", "appDisplayName": "Graph Explorer",
                       "ipAddress": "198.51.100.77", "isInteractive": False,
                       "status": {"errorCode": 50126, "failureReason": "Invalid username or password."}}]}
    assert _import_json(page).files["doc.json"] == "entra"
    [attempt] = find("action:entra.sign_in.non_interactive")
    assert (attempt.outcome, attempt.actor_email, attempt.ip_address) == ("failure", "mallory@contoso.com", "198.51.100.77")


def test_a_kubernetes_event_list_is_read_whole(db, find):
    from tests.importers.samples_paths import FALCO
    import json

    items = [json.loads((FALCO / name).read_text()) for name in ("exec_pod.json", "attach_pod.json")]
    assert _import_json({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}, "kubernetes").imported == 2
    assert {e.action for e in find("tags:import:kubernetes")} == {"k8s.pods.exec.create", "k8s.pods.attach.create"}
