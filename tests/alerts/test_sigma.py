"""SigmaHQ rules (../shared/realdata/sigma_rules, Detection Rule License 1.1) imported through
pySigma with our backend, run against the real samples they were written for."""
from __future__ import annotations

from django.core.management import call_command

from apps.alerts.models import Alert, AlertRule
from apps.alerts.sigma.convert import sigma_convert, sigma_import
from tests.alerts.conftest import REALDATA, cloudtrail_events, k8s_events, okta_event

RULES = REALDATA / "sigma_rules/rules"


def _one(path: str):
    [item] = sigma_convert((RULES / path).read_text(), source=path)
    return item


def _import_enabled(path: str) -> AlertRule:
    [item] = sigma_import([(path, (RULES / path).read_text())], enable=True)
    assert item.accepted, item.reason
    return AlertRule.objects.get(pk=item.rule_id)


def test_cloudtrail_disabling_becomes_a_query_on_our_actions():
    item = _one("cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml")
    assert item.accepted and item.severity == "medium"
    assert item.condition == ('action:cloudtrail.* AND (action:*.stop_logging OR action:*.update_trail '
                              'OR action:*.delete_trail)')


def test_the_cloudtrail_rule_fires_on_stratus_stop_and_delete_but_not_on_event_selectors(write, evaluate):
    rule = _import_enabled("cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml")
    for name in ("cloudtrail-stop", "cloudtrail-delete", "cloudtrail-event-selectors"):
        write(*cloudtrail_events(f"aws.defense-evasion.{name}.json"))
    evaluate(rule)
    assert sum(a.count for a in Alert.objects.filter(rule=rule)) == 2


def test_the_okta_admin_role_rule_fires_on_an_admin_grant(write, evaluate):
    rule = _import_enabled("identity/okta/okta_admin_role_assigned_to_user_or_group.yml")
    write(okta_event({"uuid": "g-1", "eventType": "user.account.privilege.grant", "published": "2021-06-16T10:30:00Z",
                      "outcome": {"result": "SUCCESS"}, "actor": {"id": "00u1", "alternateId": "jack@example.com"},
                      "client": {"ipAddress": "136.24.229.58"}}),
          okta_event({"uuid": "g-2", "eventType": "user.session.start", "published": "2021-06-16T10:31:00Z",
                      "outcome": {"result": "SUCCESS"}, "actor": {"id": "00u1", "alternateId": "jack@example.com"},
                      "client": {"ipAddress": "136.24.229.58"}}))
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.count == 1


def test_the_kubernetes_rolebinding_rule_fires_on_falcos_binding_trace(write, evaluate):
    rule = _import_enabled("application/kubernetes/audit/kubernetes_audit_rolebinding_modification.yml")
    write(*k8s_events("create_clusterrolebinding.json"), *k8s_events("create_deployment.json"))
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.group == {"actor": "minikube-user"}


def test_rules_we_cannot_express_are_refused_with_the_reason():
    assert _one("cloud/aws/cloudtrail/aws_update_login_profile.yml").reason == \
        "comparing two fields (|fieldref) cannot be expressed"
    azure = next((RULES / "cloud/azure").rglob("*.yml"))
    assert _one(str(azure.relative_to(RULES))).reason.startswith("log source azure/")
    assert "not a Sigma rule" in sigma_convert("title: [", source="broken.yml")[0].reason


def test_the_command_imports_the_sigmahq_folder_disabled_and_lists_each_rule(db, capsys):
    call_command("sigma_import", str(RULES / "cloud/aws"), str(RULES / "identity/okta"))
    out = capsys.readouterr().out
    accepted = AlertRule.objects.filter(builtin__startswith="sigma:")
    assert accepted.count() > 30 and not accepted.filter(enabled=True).exists()
    assert "accepted AWS CloudTrail Important Change" in out
    assert "refused " in out and "comparing two fields" in out
    call_command("sigma_import", str(RULES / "cloud/aws"))
    assert AlertRule.objects.filter(builtin__startswith="sigma:").count() == accepted.count(), "re-import updates"


def test_the_import_page_lists_accepted_and_refused_rules(browser_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile(name, (RULES / path).read_bytes()) for name, path in [
        ("disable.yml", "cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml"),
        ("profile.yml", "cloud/aws/cloudtrail/aws_update_login_profile.yml")]]
    response = browser_for("admin").post("/alerts/rules/sigma/", {"files": files})
    page = response.content.decode()
    assert response.status_code == 200
    assert "AWS CloudTrail Important Change" in page and "accepted" in page
    assert "comparing two fields (|fieldref) cannot be expressed" in page
    assert browser_for("analyst").get("/alerts/rules/sigma/").status_code == 403
    assert browser_for("admin").post("/alerts/rules/sigma/", {}).status_code == 400
