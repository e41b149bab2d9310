"""Evaluation from each rule's seq cursor: no gap and no double firing, whatever the worker did."""
from __future__ import annotations

import pytest

from apps.alerts import evaluate as evaluation, state
from apps.alerts.models import Alert, AlertRule
from tests.alerts.support import T0, minutes, sign_in
from tests.receivers import worker_jobs_forget

FAILED = "action:auth.login AND outcome:failure"


def _alerts(rule):
    return sorted((a.group["actor"], a.count) for a in Alert.objects.filter(rule=rule))


def test_a_worker_that_was_down_catches_up_with_the_same_alerts_as_one_that_ran_all_along(make_rule, write, evaluate):
    live = make_rule(kind="threshold", condition=FAILED, threshold=3, window="5m", group_by=["actor"])
    outage = make_rule(kind="threshold", condition=FAILED, threshold=3, window="5m", group_by=["actor"])
    batches = [
        [sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(2)],
        [sign_in("bob@example.com", at=T0 + minutes(2)), sign_in("amy@example.com", at=T0)],
        [sign_in("amy@example.com", at=T0 + minutes(i)) for i in (1, 2, 3)],
    ]
    for batch in batches:
        write(*batch)
        evaluate(live)  # the other rule's worker is down
    evaluate(outage)
    evaluate(outage)  # running again finds nothing new
    assert _alerts(live) == _alerts(outage) == [("amy@example.com", 4), ("bob@example.com", 3)]
    assert AlertRule.objects.get(pk=outage.pk).last_seq == AlertRule.objects.get(pk=live.pk).last_seq


def test_a_worker_that_dies_mid_batch_redoes_it_without_firing_twice(make_rule, write, evaluate, monkeypatch):
    rule = make_rule(condition="action:cloudtrail.delete_trail", group_by=["actor"])
    write({"event_id": "d1", "action": "cloudtrail.delete_trail", "timestamp": T0.isoformat(), "actor": {"id": "eve"}},
          {"event_id": "d2", "action": "cloudtrail.delete_trail", "timestamp": T0.isoformat(), "actor": {"id": "joe"}})
    calls = []
    real_create = state.alert_create

    def dies_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(state, "alert_create", dies_on_second)
    evaluate(rule)
    assert not Alert.objects.filter(rule=rule).exists(), "the half-done batch rolled back"
    assert AlertRule.objects.get(pk=rule.pk).last_seq == 0
    monkeypatch.setattr(state, "alert_create", real_create)
    evaluate(rule)
    evaluate(rule)
    assert _alerts(rule) == [("eve", 1), ("joe", 1)]


def test_a_burst_split_across_batches_still_counts_as_one_window(make_rule, write, evaluate, monkeypatch):
    monkeypatch.setattr(evaluation, "BATCH", 2)
    rule = make_rule(kind="threshold", condition=FAILED, threshold=5, window="5m", group_by=["actor"])
    write(*[sign_in("bob@example.com", at=T0 + minutes(i / 2)) for i in range(7)])
    evaluate(rule)
    assert _alerts(rule) == [("bob@example.com", 7)]


def test_a_late_event_within_the_bound_still_meets_its_window(make_rule, write, evaluate):
    rule = make_rule(kind="threshold", condition=FAILED, threshold=3, window="5m", group_by=["actor"])
    write(sign_in("bob@example.com", at=T0), sign_in("bob@example.com", at=T0 + minutes(1)))
    evaluate(rule)
    write(sign_in("amy@example.com", at=T0 + minutes(8)))
    evaluate(rule)
    # Arrives after a newer event, 7 minutes late by event time: within window + lateness.
    write(sign_in("bob@example.com", at=T0 + minutes(2)))
    evaluate(rule)
    assert _alerts(rule) == [("bob@example.com", 3)]


@pytest.mark.django_db(transaction=True)
def test_the_worker_evaluates_the_rules(make_rule, write):
    import time

    from procrastinate.contrib.django import app
    from procrastinate.exceptions import AlreadyEnqueued

    from apps.alerts.tasks import alerts_evaluate_periodic

    rule = make_rule(kind="threshold", condition=FAILED, threshold=2, window="5m", group_by=["actor"])
    write(*[sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(2)])
    try:
        alerts_evaluate_periodic.defer(timestamp=int(time.time()))
    except AlreadyEnqueued:  # a periodic run is queued already: the worker takes that one
        pass
    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(wait=False, queues=["alerts"], install_signal_handlers=False)
    worker_jobs_forget()
    assert _alerts(rule) == [("bob@example.com", 2)]


def test_events_listed_newest_first_still_complete_their_window_and_sequence(make_rule, write, evaluate):
    # CloudTrail files list the newest record first: the log receives a burst backwards.
    threshold = make_rule(kind="threshold", condition=FAILED, threshold=5, window="5m", group_by=["actor"])
    sequence = make_rule(kind="sequence", condition=FAILED, then_condition="action:auth.login AND outcome:success",
                         threshold=3, window="10m", group_by=["actor"])
    write(sign_in("bob@example.com", outcome="success", at=T0 + minutes(6)),
          *[sign_in("bob@example.com", at=T0 + minutes(5 - i)) for i in range(6)])
    evaluate(threshold, sequence)
    assert _alerts(threshold) == [("bob@example.com", 6)]
    [alert] = Alert.objects.filter(rule=sequence)
    assert alert.last_event_at == T0 + minutes(6)
