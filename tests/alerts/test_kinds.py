"""Each kind of rule on a small known log: it fires exactly when it should, once per dedup key."""
from __future__ import annotations

from apps.alerts.models import Alert, WindowHit
from tests.alerts.support import T0, minutes, sign_in

FAILED = "action:auth.login AND outcome:failure"


def test_a_match_rule_fires_on_a_matching_event_and_keeps_one_open_alert_per_group(make_rule, write, evaluate):
    rule = make_rule(condition="action:cloudtrail.stop_logging", group_by=["actor"])
    write({"event_id": "m1", "action": "cloudtrail.stop_logging", "timestamp": T0.isoformat(), "actor": {"id": "eve"}},
          {"event_id": "m2", "action": "cloudtrail.stop_logging", "timestamp": (T0 + minutes(1)).isoformat(),
           "actor": {"id": "eve"}},
          {"event_id": "m3", "action": "cloudtrail.start_logging", "timestamp": T0.isoformat(), "actor": {"id": "eve"}},
          {"event_id": "m4", "action": "cloudtrail.stop_logging", "timestamp": T0.isoformat(), "actor": {"id": "mallory"}})
    evaluate(rule)
    alerts = {a.group["actor"]: a for a in Alert.objects.filter(rule=rule)}
    assert set(alerts) == {"eve", "mallory"}
    assert alerts["eve"].count == 2 and alerts["mallory"].count == 1
    assert alerts["eve"].first_event_at == T0 and alerts["eve"].last_event_at == T0 + minutes(1)


def test_a_threshold_rule_fires_once_per_group_when_the_count_is_reached_in_the_window(make_rule, write, evaluate):
    rule = make_rule(kind="threshold", condition=FAILED, threshold=5, window="5m", group_by=["actor.email"])
    # bob: 5 failures within 4 minutes, then 3 more; carol: 5 failures spread over 20 minutes.
    write(*[sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(5)],
          *[sign_in("carol@example.com", at=T0 + minutes(5 * i)) for i in range(5)],
          sign_in("bob@example.com", outcome="success", at=T0 + minutes(4.5)))
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.group == {"actor.email": "bob@example.com"}
    assert alert.count == 5 and alert.state == "open"
    assert alert.first_event_at == T0 and alert.last_event_at == T0 + minutes(4)

    write(*[sign_in("bob@example.com", at=T0 + minutes(5 + i)) for i in range(3)])
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.count == 8, "a continuing burst updates the one open alert"
    assert alert.last_event_at == T0 + minutes(7)


def test_a_distinct_count_threshold_counts_different_values_only(make_rule, write, evaluate):
    rule = make_rule(kind="threshold", condition=FAILED, threshold=3, window="10m", group_by=["ip"],
                     distinct_field="actor.email")
    write(*[sign_in("same@example.com", at=T0 + minutes(i), ip="198.51.100.1") for i in range(6)],
          *[sign_in(f"user{i}@example.com", at=T0 + minutes(i), ip="198.51.100.2") for i in range(3)])
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.group == {"ip": "198.51.100.2"}


def test_a_resolved_alert_lets_the_next_burst_open_a_new_one(make_rule, write, evaluate):
    from apps.alerts.lifecycle import alert_resolve

    rule = make_rule(kind="threshold", condition=FAILED, threshold=2, window="5m", group_by=["actor"])
    write(*[sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(2)])
    evaluate(rule)
    alert_resolve(alert=Alert.objects.get(rule=rule), comment="password reset")
    write(*[sign_in("bob@example.com", at=T0 + minutes(60 + i)) for i in range(2)])
    evaluate(rule)
    assert list(Alert.objects.filter(rule=rule).order_by("id").values_list("state", "count")) == [
        ("resolved", 2), ("open", 2)]


def test_a_first_seen_rule_learns_then_reports_a_new_value_per_group(make_rule, write, evaluate):
    rule = make_rule(kind="first_seen", condition="action:auth.login AND outcome:success", distinct_field="ip",
                     group_by=["actor"], learning_period="1d")
    write(sign_in("ann@example.com", outcome="success", at=T0, ip="203.0.113.1"),
          sign_in("ann@example.com", outcome="success", at=T0 + minutes(60), ip="203.0.113.2"),
          sign_in("ann@example.com", outcome="success", at=T0 + minutes(60 * 30), ip="203.0.113.1"),
          sign_in("ann@example.com", outcome="success", at=T0 + minutes(60 * 31), ip="203.0.113.9"),
          sign_in("ann@example.com", outcome="success", at=T0 + minutes(60 * 32), ip="203.0.113.9"))
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.group == {"actor": "ann@example.com", "ip": "203.0.113.9"}
    assert alert.count == 1


def test_a_sequence_rule_fires_when_failures_are_followed_by_a_success_within_the_span(make_rule, write, evaluate):
    rule = make_rule(kind="sequence", condition=FAILED, then_condition="action:auth.login AND outcome:success",
                     threshold=3, window="10m", group_by=["actor"], severity="critical")
    write(*[sign_in("dan@example.com", at=T0 + minutes(i)) for i in range(3)],
          sign_in("dan@example.com", outcome="success", at=T0 + minutes(5)),
          # erin: failures, then a success too late; frank: a success without failures.
          *[sign_in("erin@example.com", at=T0 + minutes(i)) for i in range(3)],
          sign_in("erin@example.com", outcome="success", at=T0 + minutes(30)),
          sign_in("frank@example.com", outcome="success", at=T0))
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.group == {"actor": "dan@example.com"}
    assert alert.count == 4 and alert.severity == "critical"


def test_an_absence_rule_fires_once_when_a_source_goes_quiet_and_resolves_when_it_resumes(make_rule, write, evaluate):
    from datetime import timedelta

    from django.utils import timezone

    from apps.alerts.evaluate import alerts_evaluate
    from apps.alerts.models import AlertRule

    rule = make_rule(kind="absence", condition="action:backup.completed", window="1h")
    AlertRule.objects.filter(pk=rule.pk).update(created_at=timezone.now() - timedelta(hours=2))
    evaluate(rule)
    evaluate(rule)
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.state == "open" and alert.count == 0

    write({"event_id": "b1", "action": "backup.completed", "timestamp": timezone.now().isoformat()})
    alerts_evaluate(rule_ids=[rule.pk])
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by == "system"


def test_window_state_is_pruned_once_it_can_no_longer_count(make_rule, write, evaluate):
    rule = make_rule(kind="threshold", condition=FAILED, threshold=50, window="5m", group_by=["actor"])
    write(*[sign_in("old@example.com", at=T0 + minutes(i)) for i in range(3)])
    write(sign_in("new@example.com", at=T0 + minutes(120)))
    evaluate(rule)
    assert list(WindowHit.objects.filter(rule=rule).values_list("group_key", flat=True)) == ["actor=new@example.com"]


def test_a_new_rule_watches_what_arrives_after_it_not_the_history(make_rule, write, evaluate):
    write(*[sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(5)])
    rule = make_rule(kind="threshold", condition=FAILED, threshold=5, window="5m", group_by=["actor"])
    evaluate(rule)
    assert not Alert.objects.filter(rule=rule).exists()


def test_outside_working_hours_only_events_out_of_hours_fire(make_rule, write, evaluate):
    rule = make_rule(condition="action:iam.user.create", group_by=["actor"],
                     working_hours={"timezone": "Europe/Paris", "start": "08:00", "end": "19:00", "days": [0, 1, 2, 3, 4]})
    # T0 is Tuesday 10:00 UTC = 11:00 in Paris (inside); 02:30 UTC = 03:30 in Paris (outside).
    night = T0.replace(hour=2, minute=30)
    write({"event_id": "w1", "action": "iam.user.create", "timestamp": T0.isoformat(), "actor": {"id": "day"}},
          {"event_id": "w2", "action": "iam.user.create", "timestamp": night.isoformat(), "actor": {"id": "night"}})
    evaluate(rule)
    assert [a.group["actor"] for a in Alert.objects.filter(rule=rule)] == ["night"]
