"""Backtest: what a rule (saved or not) would have raised over a past period.

    rule_backtest(rule, *, user, period) -> Backtest

Reads only the events `user` may see (Event.objects.visible_to), as every read shown to a person
does, and replays them in event-time order through the same kinds as the evaluator, in memory:
nothing is stored and nobody is notified.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import BooleanField, ExpressionWrapper
from django.utils import timezone

from apps.alerts.firing import dedup_key
from apps.alerts.log_reads import COLUMNS
from apps.alerts.notify import rule_events_url
from apps.alerts.spec import outside_working_hours, rule_compile
from apps.events.models import Event

MAX_EVENTS = 50_000


@dataclass
class Firing:
    group: dict
    first_at: object
    last_at: object
    count: int = 1
    url: str = ""


@dataclass
class Backtest:
    start: object
    end: object
    scanned: int = 0
    truncated: bool = False
    firings: list[Firing] = field(default_factory=list)

    @property
    def groups(self) -> int:
        return len({tuple(sorted(f.group.items())) for f in self.firings})


def rule_backtest(rule, *, user, period: timedelta, now=None) -> Backtest:
    end = now or timezone.now()
    start = end - period
    compiled = rule_compile(rule)
    where = compiled.q if compiled.then_q is None else (compiled.q | compiled.then_q)
    qs = Event.objects.visible_to(user).filter(where).between(start, end)
    columns = list(COLUMNS)
    if compiled.then_q is not None:
        qs = qs.annotate(_is_a=ExpressionWrapper(compiled.q, output_field=BooleanField()),
                         _is_b=ExpressionWrapper(compiled.then_q, output_field=BooleanField()))
        columns += ["_is_a", "_is_b"]
    rows = list(qs.order_by("occurred_at", "seq").values(*columns)[:MAX_EVENTS + 1])
    result = Backtest(start=start, end=end, scanned=min(len(rows), MAX_EVENTS), truncated=len(rows) > MAX_EVENTS)
    rows = rows[:MAX_EVENTS]
    open_by_key: dict[str, Firing] = {}
    windows: dict[str, deque] = defaultdict(deque)
    seen: dict[str, set] = defaultdict(set)
    learning_until = None

    def fire(group, row, first_at, count):
        key = dedup_key(rule, group)
        current = open_by_key.get(key)
        # One firing per group while its burst goes on (a gap longer than the window ends it).
        if current is not None and (compiled.window is None or row["occurred_at"] - current.last_at <= compiled.window):
            current.count += 1
            current.last_at = row["occurred_at"]
            return
        firing = Firing(group=group, first_at=first_at, last_at=row["occurred_at"], count=count)
        open_by_key[key] = firing
        result.firings.append(firing)

    for row in rows:
        if rule.kind == "absence":
            continue
        if not outside_working_hours(rule, row["occurred_at"]):
            continue
        group = compiled.group_of(row)
        gkey = repr(sorted(group.items()))
        t = row["occurred_at"]
        if rule.kind == "match":
            fire(group, row, t, 1)
        elif rule.kind == "threshold":
            value = compiled.value_getter(row) if compiled.value_getter else str(row["seq"])
            if not value:
                continue
            window = windows[gkey]
            window.append((t, value))
            while window and window[0][0] <= t - compiled.window:
                window.popleft()
            if len({v for _, v in window}) >= rule.threshold:
                fire(group, row, window[0][0], len(window))
        elif rule.kind == "first_seen":
            value = compiled.value_getter(row)
            if not value:
                continue
            if learning_until is None:
                learning_until = t + (compiled.learning or timedelta(0))
            if value not in seen[gkey]:
                seen[gkey].add(value)
                if t >= learning_until:
                    result.firings.append(Firing(group={**group, rule.distinct_field: value}, first_at=t, last_at=t))
        elif rule.kind == "sequence":
            window = windows[gkey]
            while window and window[0] < t - compiled.window:
                window.popleft()
            if row["_is_b"] and len(window) >= rule.threshold:
                fire(group, row, window[0], len(window) + 1)
                window.clear()
            if row["_is_a"]:
                window.append(t)
    if rule.kind == "absence":
        previous = start
        for row in rows:
            if row["occurred_at"] - previous >= compiled.window:
                result.firings.append(Firing(group={}, first_at=previous, last_at=row["occurred_at"], count=0))
            previous = row["occurred_at"]
        if end - previous >= compiled.window:
            result.firings.append(Firing(group={}, first_at=previous, last_at=end, count=0))
    for firing in result.firings:
        firing.url = rule_events_url(rule, firing.group, firing.first_at, firing.last_at)
    return result
