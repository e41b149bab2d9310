"""SigmaHQ rules (../shared/realdata/sigma_rules, Detection Rule License 1.1) imported through
pySigma with our backend, run against the real samples they were written for."""
from __future__ import annotations

from django.core.management import call_command

from apps.alerts.models import Alert, AlertRule
from apps.alerts.sigma.convert import sigma_convert, sigma_import
from tests.alerts.support import REALDATA, cloudtrail_events, k8s_events, okta_event

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


# Sigma's own example of a correlation (the specification's "brute force that worked"), written
# for CloudTrail console sign-ins.
CORRELATION = """
title: Failed console sign-in
name: failed_console_login
logsource: {product: aws, service: cloudtrail}
detection:
    selection: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin, responseElements.ConsoleLogin: Failure}
    condition: selection
---
title: Successful console sign-in
name: successful_console_login
logsource: {product: aws, service: cloudtrail}
detection:
    selection: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin, responseElements.ConsoleLogin: Success}
    condition: selection
---
title: Many failed console sign-ins
name: many_failed_console_logins
correlation:
    type: event_count
    rules: [failed_console_login]
    group-by: [userIdentity.arn]
    timespan: 10m
    condition: {gte: 5}
---
title: Console brute force that worked
id: 0e95725d-7320-415d-80f7-004da920fc11
level: critical
correlation:
    type: temporal_ordered
    generate: true
    rules: [many_failed_console_logins, successful_console_login]
    group-by: [userIdentity.arn]
    timespan: 30m
---
title: Sign-ins from many addresses
correlation:
    type: value_count
    rules: [successful_console_login]
    group-by: [userIdentity.arn]
    timespan: 1h
    condition: {gte: 3, field: sourceIPAddress}
---
title: Unordered
correlation:
    type: temporal
    rules: [failed_console_login, successful_console_login]
    group-by: [userIdentity.arn]
    timespan: 1h
"""


def test_correlations_become_threshold_and_sequence_rules_or_are_refused_with_the_reason():
    items = {item.title: item for item in sigma_convert(CORRELATION, source="correlation.yml")}
    assert "Failed console sign-in" not in items, "a correlation's parts are not rules of their own"
    assert "Successful console sign-in" in items, "unless a correlation using it says generate: true"
    many = items["Many failed console sign-ins"]
    assert many.extra == {"kind": "threshold", "threshold": 5, "window": "10m", "group_by": ["actor.id"]}
    worked = items["Console brute force that worked"]
    assert worked.extra["kind"] == "sequence" and worked.extra["threshold"] == 5 and worked.severity == "critical"
    assert "metadata.responseElements.ConsoleLogin" in worked.condition
    assert items["Sign-ins from many addresses"].extra["distinct_field"] == "ip"
    assert items["Unordered"].reason.startswith("temporal correlations cannot be expressed")


def test_an_imported_correlation_fires_on_failures_then_a_success(write, evaluate):
    results = sigma_import([("correlation.yml", CORRELATION)], enable=True)
    rule = AlertRule.objects.get(pk=next(r.rule_id for r in results if r.title == "Console brute force that worked"))
    arn = "arn:aws:iam::111122223333:user/victim"

    def login(n, result, minute):
        return {"event_id": f"c{n}", "action": "signin.console_login", "timestamp": f"2024-08-01T10:{minute:02d}:00Z",
                "outcome": "failure" if result == "Failure" else "success", "actor": {"id": arn},
                "metadata": {"responseElements": {"ConsoleLogin": result}}}

    write(*[login(i, "Failure", i) for i in range(5)], login(9, "Success", 8))
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.group == {"actor.id": arn} and alert.count == 6
