"""The worker's evaluation of the enabled rules, incrementally from each rule's cursor.

    alerts_evaluate() -> int        # every enabled rule, up to the chain head; alerts touched

Each rule reads the events after its `last_seq` through its own compiled query on the whole log
(rules are system-level: they see every event, whoever may later read the alert; previews and
backtests shown to a person go through Event.objects.visible_to in apps.alerts.backtest). A
batch is processed in one transaction with the rule's row locked: the state (window hits,
seen values), the alerts and the cursor commit together, so a worker that dies mid-batch
redoes it and a worker that was down catches up from the cursor, with no gap and no double
firing. Windows are sliding and use event time; window state is kept up to LATENESS past the
window's end (by the rule's watermark, its newest event time), so a late event still meets its
neighbours within that bound.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.alerts.firing import alert_fire, alert_resolve_auto, open_alert
from apps.alerts.models import AlertRule, SeenValue, WindowHit
from apps.alerts.spec import LATENESS, Compiled, outside_working_hours, rule_compile
from apps.alerts.log_reads import rule_rows
from apps.events.models import ChainHead, VerificationRun

logger = logging.getLogger(__name__)

BATCH = 5000


def alerts_evaluate(*, now=None, rule_ids: list[int] | None = None) -> int:
    """Evaluate every enabled rule up to the chain head; the number of alerts opened or updated."""
    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    rules = AlertRule.objects.filter(enabled=True)
    if rule_ids is not None:
        rules = rules.filter(pk__in=rule_ids)
    touched = 0
    for rule_id in rules.values_list("pk", flat=True):
        try:
            touched += rule_evaluate(rule_id, head=head, now=now)
        except Exception:  # one broken rule must not stop the others
            logger.exception("alert rule %s failed to evaluate", rule_id)
    return touched


def rule_evaluate(rule_id: int, *, head: int, now=None) -> int:
    """Bring one rule up to `head`, batch by batch; returns the alerts opened or updated."""
    touched = 0
    while True:
        with transaction.atomic():
            # A second worker skips a rule being evaluated instead of doing it twice.
            rule = AlertRule.objects.select_for_update(skip_locked=True).filter(pk=rule_id, enabled=True).first()
            if rule is None:
                return touched
            compiled = rule_compile(rule)
            done, count = _batch(rule, compiled, head=head)
            if rule.watch_chain:
                count += _chain_verifications(rule)
            if rule.kind == AlertRule.Kind.ABSENCE:
                count += _absence(rule, compiled, now=now or timezone.now())
            rule.last_evaluated_at = timezone.now()
            rule.save()
            touched += count
        if done:
            return touched


def _batch(rule: AlertRule, compiled: Compiled, *, head: int) -> tuple[bool, int]:
    rows = rule_rows(compiled.q, compiled.then_q, after=rule.last_seq, head=head, limit=BATCH)
    touched = 0
    handle = _HANDLERS[rule.kind]
    for row in rows:
        rule.matched_total += 1
        row["_late"] = rule.watermark is not None and row["occurred_at"] < rule.watermark
        if rule.watermark is None or row["occurred_at"] > rule.watermark:
            rule.watermark = row["occurred_at"]
        if rule.kind == AlertRule.Kind.ABSENCE:
            rule.last_match_at = max(filter(None, [rule.last_match_at, row["received_at"]]))
            continue
        if not outside_working_hours(rule, row["occurred_at"]):
            continue
        touched += handle(rule, compiled, row)
    done = len(rows) < BATCH
    rule.last_seq = head if done else rows[-1]["seq"]
    if compiled.window is not None and rule.watermark is not None:
        WindowHit.objects.filter(rule=rule, occurred_at__lt=rule.watermark - compiled.window - LATENESS).delete()
    return done, touched


def _group_key(group: dict) -> str:
    return "\x1f".join(f"{name}={value}" for name, value in group.items())


def _match(rule, compiled, row) -> int:
    alert_fire(rule, compiled.group_of(row), row=row, first=(row["seq"], row["occurred_at"], 1))
    return 1


def _threshold(rule, compiled, row) -> int:
    group = compiled.group_of(row)
    key = _group_key(group)
    value = compiled.value_getter(row) if compiled.value_getter else ""
    if compiled.value_getter and not value:
        return 0
    WindowHit.objects.create(rule=rule, group_key=key, seq=row["seq"], occurred_at=row["occurred_at"], value=value)
    if open_alert(rule, group) is not None:
        alert_fire(rule, group, row=row, first=None)
        return 1
    reached = _window_reached(rule, compiled, key, row)
    if reached is None:
        return 0
    alert_fire(rule, group, row=row, first=reached)
    return 1


def _window_reached(rule, compiled, key, row):
    """(first seq, first time, count) of a window holding `row` that reaches the threshold, else None.

    In order (the event is the newest so far), the window is the one ending at the event. A late
    event (CloudTrail files list the newest record first) may complete any window that holds it,
    so every window starting within `window` before it is tried.
    """
    t, window = row["occurred_at"], compiled.window
    if not row["_late"]:
        hits = WindowHit.objects.filter(rule=rule, group_key=key, occurred_at__gt=t - window, occurred_at__lte=t)
        n = hits.values("value").distinct().count() if compiled.value_getter else hits.count()
        if n < rule.threshold:
            return None
        first = hits.order_by("occurred_at", "seq").values_list("seq", "occurred_at").first()
        return first[0], first[1], hits.count()
    hits = list(WindowHit.objects.filter(rule=rule, group_key=key, occurred_at__gte=t - window,
                                         occurred_at__lte=t + window)
                .order_by("occurred_at", "seq").values_list("seq", "occurred_at", "value"))
    for i, (seq, start, _) in enumerate(hits):
        if start > t:
            break
        inside = [h for h in hits[i:] if h[1] < start + window]
        n = len({h[2] for h in inside}) if compiled.value_getter else len(inside)
        if n >= rule.threshold:
            return seq, start, len(inside)
    return None


def _first_seen(rule, compiled, row) -> int:
    value = compiled.value_getter(row)
    if not value:
        return 0
    group = compiled.group_of(row)
    if rule.learning_until is None:
        rule.learning_until = row["occurred_at"] + (compiled.learning or timedelta(0))
    _, created = SeenValue.objects.get_or_create(
        rule=rule, group_key=_group_key(group), value=value,
        defaults={"first_at": row["occurred_at"], "first_seq": row["seq"]})
    if not created or row["occurred_at"] < rule.learning_until:
        return 0
    alert_fire(rule, {**group, rule.distinct_field: value}, row=row, first=(row["seq"], row["occurred_at"], 1))
    return 1


def _sequence(rule, compiled, row) -> int:
    """Steps of the first condition, then one of the second, within the window, per group.

    Both steps are kept as hits, so the order is decided by event time, not by arrival: a late
    first step still completes a second one already seen.
    """
    group = compiled.group_of(row)
    key = _group_key(group)
    hits = WindowHit.objects.filter(rule=rule, group_key=key)
    if row["_is_a"]:
        hits.model.objects.create(rule=rule, group_key=key, step="a", seq=row["seq"], occurred_at=row["occurred_at"])
    if row["_is_b"]:
        hits.model.objects.create(rule=rule, group_key=key, step="b", seq=row["seq"], occurred_at=row["occurred_at"])
        candidates = [(row["seq"], row["occurred_at"])]
    else:
        candidates = list(hits.filter(step="b", occurred_at__gte=row["occurred_at"],
                                      occurred_at__lte=row["occurred_at"] + compiled.window)
                          .order_by("occurred_at", "seq").values_list("seq", "occurred_at"))
    for b_seq, b_at in candidates:
        steps = hits.filter(step="a", occurred_at__gte=b_at - compiled.window, occurred_at__lte=b_at)
        found = steps.aggregate(n=Count("id"))
        if found["n"] >= rule.threshold:
            first = steps.order_by("occurred_at", "seq").values_list("seq", "occurred_at").first()
            b_row = row if b_seq == row["seq"] else {"seq": b_seq, "occurred_at": b_at}
            alert_fire(rule, group, row=b_row, first=(first[0], first[1], found["n"] + 1))
            # The steps are used up: the next success needs a new run of failures.
            steps.delete()
            hits.filter(step="b", seq=b_seq).delete()
            return 1
    return 0


def _absence(rule, compiled, *, now) -> int:
    """Fire once when nothing matched for the window (by arrival time); resolve when events resume."""
    since = rule.last_match_at or rule.created_at
    silent = now - since >= compiled.window
    current = open_alert(rule, {})
    if silent and current is None:
        alert_fire(rule, {}, row=None, first=None, title=f"{rule.name}: no matching event since {since:%Y-%m-%d %H:%M} UTC")
        return 1
    if not silent and current is not None:
        alert_resolve_auto(current, comment="matching events arrived again")
        return 1
    return 0


def _chain_verifications(rule) -> int:
    failed = VerificationRun.objects.filter(pk__gt=rule.last_verification_id).order_by("pk")
    touched = 0
    for run in failed:
        rule.last_verification_id = run.pk
        if run.valid:
            continue
        alert_fire(rule, {"chain": "verification"}, row=None, first=(run.first_bad_seq, run.finished_at, 1),
                   title=f"{rule.name}: chain verification failed at seq {run.first_bad_seq} ({run.reason})"[:500])
        touched += 1
    return touched


_HANDLERS = {
    AlertRule.Kind.MATCH: _match,
    AlertRule.Kind.THRESHOLD: _threshold,
    AlertRule.Kind.FIRST_SEEN: _first_seen,
    AlertRule.Kind.SEQUENCE: _sequence,
    AlertRule.Kind.ABSENCE: None,
}
