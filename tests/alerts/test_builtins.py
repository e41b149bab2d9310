"""The built-in detections on real audit logs (../shared/realdata: Stratus Red Team CloudTrail
detonations, Apache-2.0; Falco's Kubernetes audit traces, Apache-2.0; Panther's Okta scenarios,
Apache-2.0), mapped as the importers will map them (tests/alerts/conftest.py), and on the demo's
attack stories' shapes."""
from __future__ import annotations

import json

from apps.alerts.models import Alert
from apps.events.models import VerificationRun
from tests.alerts.support import REALDATA, T0, cloudtrail_events, k8s_events, minutes, okta_event, okta_events, sign_in


def _fired(builtins) -> dict[str, list[Alert]]:
    by_rule: dict[str, list[Alert]] = {}
    for alert in Alert.objects.select_related("rule").order_by("id"):
        by_rule.setdefault(alert.rule.builtin, []).append(alert)
    return by_rule


def test_they_are_installed_enabled_and_editable(builtins):
    assert set(builtins) >= {"brute-force-actor", "brute-force-ip", "brute-force-success", "privilege-escalation",
                             "off-hours-admin", "rapid-provisioning", "new-source-ip", "new-country",
                             "audit-trail-tampering", "denied-burst"}
    assert all(rule.enabled for rule in builtins.values())
    assert builtins["brute-force-success"].severity == "critical" and builtins["brute-force-actor"].severity == "high"


def test_a_burst_of_unauthorized_get_password_data_is_a_burst_of_denied_calls(builtins, write, evaluate):
    write(*cloudtrail_events("aws.credential-access.ec2-get-password-data.json"))
    evaluate()
    fired = _fired(builtins)
    [alert] = fired.pop("denied-burst")
    assert "stratus-red-team-ec2-get-password-data-role" in alert.group["actor"]
    assert alert.count >= 10
    # The detonation's AssumeRole calls are a person's successful IAM actions at 21:00 UTC: the
    # off-hours detection is right to see them; nothing else fires.
    assert set(fired) <= {"off-hours-admin"}, fired


def test_creating_an_admin_user_is_a_privilege_escalation(builtins, write, evaluate):
    write(*cloudtrail_events("aws.persistence.iam-create-admin-user.json"))
    evaluate()
    fired = _fired(builtins)
    [alert] = fired.pop("privilege-escalation")
    # The importer names the actor by its IAM user name (its ARN is actor.id).
    assert alert.group == {"actor": "christophe"} and alert.count == 1
    assert fired == {}


def test_stopping_deleting_or_narrowing_cloudtrail_is_audit_trail_tampering(builtins, write, evaluate):
    for name in ("cloudtrail-stop", "cloudtrail-delete", "cloudtrail-event-selectors"):
        write(*cloudtrail_events(f"aws.defense-evasion.{name}.json"))
    evaluate()
    alerts = _fired(builtins)["audit-trail-tampering"]
    assert sum(alert.count for alert in alerts) == 3
    assert all(alert.severity == "critical" for alert in alerts)


def test_a_kubernetes_binding_to_cluster_admin_is_a_privilege_escalation_and_another_binding_is_not(
        builtins, write, evaluate):
    admin = k8s_events("attach_cluster_admin_role.json")
    other = k8s_events("create_clusterrolebinding.json")
    assert json.dumps(admin).count('"cluster-admin"') and not json.dumps(other).count('"cluster-admin"')
    write(*admin, *[{**e, "event_id": "other-" + e["event_id"]} for e in other])
    evaluate()
    [alert] = _fired(builtins)["privilege-escalation"]
    assert alert.count == len(admin)


def test_an_okta_admin_privilege_grant_is_a_privilege_escalation(builtins, write, evaluate):
    # The Okta samples hold sign-ins and a user creation; the grant is written in their shape.
    login = json.loads((REALDATA / "okta/panther_test_scenarios/okta-add-administrator.1_legit_login.jsonl")
                       .read_text().splitlines()[0])
    grant = {**login, "uuid": "grant-1", "eventType": "user.account.privilege.grant",
             "displayMessage": "Grant user privilege", "target": [{"type": "User", "alternateId": "new.admin@example.com"}]}
    write(*okta_events("okta-add-administrator.1_legit_login.jsonl"), okta_event(grant))
    evaluate()
    [alert] = _fired(builtins)["privilege-escalation"]
    assert alert.group == {"actor": "jack.naglieri@runpanther.io"}


def test_the_demo_brute_force_story_fires_both_brute_force_rules_then_the_critical_success(builtins, write, evaluate):
    attacker, intruder = "192.0.2.50", "192.0.2.200"
    write(*[sign_in("victim@example.com", at=T0 + minutes(i * 0.2), ip=attacker) for i in range(30)],
          sign_in("victim@example.com", outcome="success", at=T0 + minutes(10), ip=intruder))
    evaluate()
    fired = _fired(builtins)
    assert [a.group for a in fired["brute-force-actor"]] == [{"actor": "victim@example.com"}]
    assert [a.group for a in fired["brute-force-ip"]] == [{"ip": attacker}]
    [worked] = fired["brute-force-success"]
    assert worked.severity == "critical" and worked.group == {"actor": "victim@example.com"}
    assert fired["brute-force-actor"][0].count == 30, "one alert for the whole burst"


def test_admin_work_at_night_fires_and_the_same_work_by_day_does_not(builtins, write, evaluate):
    night, day = T0.replace(hour=3), T0.replace(hour=11)
    change = {"action": "iam.role.update", "category": "iam", "outcome": "success"}
    write({**change, "event_id": "n1", "timestamp": night.isoformat(), "actor": {"id": "owl", "type": "user"}},
          {**change, "event_id": "d1", "timestamp": day.isoformat(), "actor": {"id": "lark", "type": "user"}})
    evaluate()
    assert [a.group for a in _fired(builtins)["off-hours-admin"]] == [{"actor": "owl"}]


def test_rapid_provisioning_fires_on_forty_servers_in_minutes(builtins, write, evaluate):
    write(*[{"event_id": f"p{i}", "action": "compute.servers.create", "outcome": "success",
             "timestamp": (T0 + minutes(i * 0.15)).isoformat(), "actor": {"id": "gpu-fan", "type": "user"}}
            for i in range(40)])
    # Automation creating as fast (the demo's backup agent, terraform) is its normal work.
    write(*[{"event_id": f"s{i}", "action": "storage.snapshot.create", "outcome": "success",
             "timestamp": (T0 + minutes(i * 0.15)).isoformat(), "actor": {"id": "backup-agent", "type": "service"}}
            for i in range(40)])
    evaluate()
    [alert] = _fired(builtins)["rapid-provisioning"]
    assert alert.count == 40 and alert.group == {"actor": "gpu-fan"}


def test_a_failed_verification_of_our_own_chain_is_audit_trail_tampering(builtins, evaluate):
    VerificationRun.objects.create(kind="incremental", started_at=T0, finished_at=T0, from_seq=1, to_seq=10,
                                   checked=10, valid=True)
    VerificationRun.objects.create(kind="incremental", started_at=T0, finished_at=T0, from_seq=11, to_seq=20,
                                   checked=10, valid=False, first_bad_seq=14, reason="hash mismatch")
    evaluate()
    evaluate()
    [alert] = _fired(builtins)["audit-trail-tampering"]
    assert "chain verification failed at seq 14" in alert.title


def test_a_sign_in_from_a_new_country_after_the_learning_period_fires(builtins, write, evaluate):
    def at(days, country, ip):
        return sign_in("ann@example.com", outcome="success", at=T0 + minutes(days * 24 * 60), ip=ip,
                       metadata={"geo": {"country": country}})

    write(at(0, "NL", "198.51.100.1"), at(2, "DE", "198.51.100.2"), at(9, "NL", "198.51.100.1"),
          at(10, "RO", "198.51.100.1"))
    evaluate()
    [alert] = _fired(builtins)["new-country"]
    assert alert.group == {"actor": "ann@example.com", "metadata.geo.country": "RO"}
