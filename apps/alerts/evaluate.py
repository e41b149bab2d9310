"""The worker's evaluation of the enabled rules, incrementally from each rule's cursor.

    alerts_evaluate() -> int        # every enabled rule, up to the chain head; alerts touched

Each rule reads the events after its `last_seq` through its own compiled query on the whole log
(rules are system-level: they see every event, whoever may later read the alert; previews and
backtests shown to a person go through Event.objects.visible_to in apps.alerts.backtest). A
batch is processed in one transaction with the rule's row locked: the state (window hits,
seen values), the alerts and the cursor commit together, so a worker that dies mid-batch
redoes it and a worker that was down catches up from the cursor, with no gap and no double
firing. Within a batch the state is read once and kept in memory (apps.alerts.state). Windows are sliding and use event time; window state is kept up to LATENESS past the
window's end (by the rule's watermark, its newest event time), so a late event still meets its
neighbours within that bound.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.alerts.firing import alert_resolve_auto
from apps.alerts.models import AlertRule, WindowHit
from apps.alerts.state import Hits, OpenAlerts, Seen
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
            compiled = _compiled(rule)
            alerts = OpenAlerts(rule)
            done = _batch(rule, compiled, alerts, head=head)
            if rule.watch_chain:
                _chain_verifications(rule, alerts)
            if rule.kind == AlertRule.Kind.ABSENCE:
                _absence(rule, compiled, alerts, now=now or timezone.now())
            alerts.flush()
            rule.last_evaluated_at = timezone.now()
            # Only the evaluation state: updated_at says when a person last changed the rule.
            rule.save(update_fields=_STATE_FIELDS)
            touched += alerts.touched
        if done:
            return touched


_STATE_FIELDS = ["last_seq", "watermark", "learning_until", "last_match_at", "last_verification_id",
                 "last_evaluated_at", "matched_total"]
_COMPILED: dict[tuple, Compiled] = {}


def _compiled(rule: AlertRule) -> Compiled:
    """The rule compiled, kept between passes until the rule changes (parsing is per change, not per pass)."""
    key = (rule.pk, rule.updated_at)
    compiled = _COMPILED.get(key)
    if compiled is None:
        if len(_COMPILED) > 10_000:
            _COMPILED.clear()
        compiled = _COMPILED[key] = rule_compile(rule)
    return compiled


def _batch(rule: AlertRule, compiled: Compiled, alerts: OpenAlerts, *, head: int) -> bool:
    """One batch of matching events through the rule; True when the rule reached `head`."""
    rows = rule_rows(compiled.q, compiled.then_q, after=rule.last_seq, head=head, limit=BATCH)
    state = _State(rule, compiled, rows)
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
        handle(rule, compiled, row, state, alerts)
    state.flush()
    done = len(rows) < BATCH
    rule.last_seq = head if done else rows[-1]["seq"]
    if rows and compiled.window is not None and rule.watermark is not None:
        WindowHit.objects.filter(rule=rule, occurred_at__lt=rule.watermark - compiled.window - LATENESS).delete()
    return done


def _group_key(group: dict) -> str:
    return "\x1f".join(f"{name}={value}" for name, value in group.items())


class _State:
    """What the batch's rows need from the tables, loaded in one query each."""

    def __init__(self, rule, compiled, rows):
        for row in rows:
            row["_group"] = compiled.group_of(row)
            row["_key"] = _group_key(row["_group"])
        self.hits = self.seen = None
        if rows and rule.kind in (AlertRule.Kind.THRESHOLD, AlertRule.Kind.SEQUENCE):
            times = [row["occurred_at"] for row in rows]
            self.hits = Hits(rule, {row["_key"] for row in rows}, min(times) - compiled.window,
                             max(times) + compiled.window)
        if rows and rule.kind == AlertRule.Kind.FIRST_SEEN:
            pairs = {(row["_key"], compiled.value_getter(row)) for row in rows}
            self.seen = Seen(rule, {pair for pair in pairs if pair[1]})

    def flush(self):
        if self.hits is not None:
            self.hits.flush()
        if self.seen is not None:
            self.seen.flush()


def _match(rule, compiled, row, state, alerts) -> None:
    alerts.fire(row["_group"], row=row, first=(row["seq"], row["occurred_at"], 1))


def _threshold(rule, compiled, row, state, alerts) -> None:
    group, key = row["_group"], row["_key"]
    value = compiled.value_getter(row) if compiled.value_getter else ""
    if compiled.value_getter and not value:
        return
    state.hits.add(key, row["occurred_at"], row["seq"], value)
    if alerts.get(group) is not None:
        alerts.fire(group, row=row, first=None)
        return
    reached = _window_reached(rule, compiled, state.hits, key, row)
    if reached is not None:
        alerts.fire(group, row=row, first=reached)


def _window_reached(rule, compiled, hits: Hits, key: str, row):
    """(first seq, first time, count) of a window holding `row` that reaches the threshold, else None.

    In order (the event is the newest so far), the window is the one ending at the event. A late
    event (CloudTrail files list the newest record first) may complete any window that holds it,
    so every window starting within `window` before it is tried.
    """
    t, window = row["occurred_at"], compiled.window

    def reaches(items):
        return (len({item[2] for item in items}) if compiled.value_getter else len(items)) >= rule.threshold

    if not row["_late"]:
        inside = hits.between(key, t - window, t, low_open=True)
        return (inside[0][1], inside[0][0], len(inside)) if reaches(inside) else None
    around = hits.between(key, t - window, t + window)
    for i, (start, seq, _, _) in enumerate(around):
        if start > t:
            break
        inside = [item for item in around[i:] if item[0] < start + window]
        if reaches(inside):
            return seq, start, len(inside)
    return None


def _first_seen(rule, compiled, row, state, alerts) -> None:
    value = compiled.value_getter(row)
    if not value:
        return
    if rule.learning_until is None:
        rule.learning_until = row["occurred_at"] + (compiled.learning or timedelta(0))
    if not state.seen.first_time(row["_key"], value, at=row["occurred_at"], seq=row["seq"]):
        return
    if row["occurred_at"] >= rule.learning_until:
        alerts.fire({**row["_group"], rule.distinct_field: value}, row=row, first=(row["seq"], row["occurred_at"], 1))


def _sequence(rule, compiled, row, state, alerts) -> None:
    """Steps of the first condition, then one of the second, within the window, per group.

    Both steps are kept as hits, so the order is decided by event time, not by arrival: a late
    first step still completes a second one already seen.
    """
    key, t, hits = row["_key"], row["occurred_at"], state.hits
    if row["_is_a"]:
        hits.add(key, t, row["seq"], step="a")
    if row["_is_b"]:
        hits.add(key, t, row["seq"], step="b")
        candidates = [(t, row["seq"], "", "b")]
    else:
        candidates = hits.between(key, t, t + compiled.window, step="b")
    for b_item in candidates:
        b_at, b_seq = b_item[0], b_item[1]
        steps = hits.between(key, b_at - compiled.window, b_at, step="a")
        if len(steps) >= rule.threshold:
            b_row = row if b_seq == row["seq"] else {"seq": b_seq, "occurred_at": b_at}
            alerts.fire(row["_group"], row=b_row, first=(steps[0][1], steps[0][0], len(steps) + 1))
            # The steps are used up: the next success needs a new run of failures.
            hits.consume(key, [*steps, (b_at, b_seq, "", "b")])
            return


def _absence(rule, compiled, alerts: OpenAlerts, *, now) -> None:
    """Fire once when nothing matched for the window (by arrival time); resolve when events resume."""
    since = rule.last_match_at or rule.created_at
    silent = now - since >= compiled.window
    current = alerts.get({})
    if silent and current is None:
        alerts.fire({}, row=None, first=None, title=f"{rule.name}: no matching event since {since:%Y-%m-%d %H:%M} UTC")
    elif not silent and current is not None:
        alert_resolve_auto(current, comment="matching events arrived again")
        alerts.by_key.pop(current.dedup_key, None)
        alerts.dirty.discard(current.dedup_key)
        alerts.touched += 1


def _chain_verifications(rule, alerts: OpenAlerts) -> None:
    for run in VerificationRun.objects.filter(pk__gt=rule.last_verification_id).order_by("pk"):
        rule.last_verification_id = run.pk
        if run.valid:
            continue
        alerts.fire({"chain": "verification"}, row=None, first=(run.first_bad_seq, run.finished_at, 1),
                    title=f"{rule.name}: chain verification failed at seq {run.first_bad_seq} ({run.reason})"[:500])


_HANDLERS = {
    AlertRule.Kind.MATCH: _match,
    AlertRule.Kind.THRESHOLD: _threshold,
    AlertRule.Kind.FIRST_SEEN: _first_seen,
    AlertRule.Kind.SEQUENCE: _sequence,
    AlertRule.Kind.ABSENCE: None,
}
