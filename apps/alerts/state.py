"""The evaluator's per-batch working state: loaded once, kept in memory, written back once.

A batch used to cost a few queries per matching event (insert a hit, count the window, look
for the open alert, update it); bench/alerts.py measured 30 s from commit to alert with 100
rules on a loaded machine. Now a batch reads the window hits, seen values and open alerts it
needs in one query each, works in memory, and writes them back in bulk.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import defaultdict

from django.utils import timezone

from apps.alerts.firing import alert_create, dedup_key
from apps.alerts.models import Alert, AlertRule, SeenValue, WindowHit


def _t(item):
    return item[0]


class Hits:
    """Window hits of one rule, per group key: sorted lists of (occurred_at, seq, value, step)."""

    def __init__(self, rule: AlertRule, keys: set[str], low, high):
        self.rule = rule
        self.by_key: dict[str, list] = defaultdict(list)
        self.new: list[WindowHit] = []
        self.consumed: dict[str, set[int]] = defaultdict(set)
        if keys and low is not None:
            stored = (WindowHit.objects.filter(rule=rule, group_key__in=keys, occurred_at__gte=low,
                                               occurred_at__lte=high)
                      .order_by("occurred_at", "seq").values_list("group_key", "occurred_at", "seq", "value", "step"))
            for key, at, seq, value, step in stored:
                self.by_key[key].append((at, seq, value, step))

    def add(self, key: str, at, seq: int, value: str = "", step: str = "a") -> None:
        insort(self.by_key[key], (at, seq, value, step))
        self.new.append(WindowHit(rule=self.rule, group_key=key, seq=seq, occurred_at=at, value=value, step=step))

    def between(self, key: str, low, high, *, low_open: bool = False, step: str | None = None) -> list:
        items = self.by_key.get(key, [])
        start = (bisect_right if low_open else bisect_left)(items, low, key=_t)
        end = bisect_right(items, high, key=_t)
        found = items[start:end]
        return found if step is None else [item for item in found if item[3] == step]

    def consume(self, key: str, used: list) -> None:
        """Drop hits that a sequence used up (in memory now, in the table at flush)."""
        gone = set(used)
        self.by_key[key] = [item for item in self.by_key[key] if item not in gone]
        for at, seq, value, step in used:
            self.consumed[step].add(seq)
        used_seqs = {(seq, step) for _, seq, _, step in used}
        self.new = [hit for hit in self.new if (hit.seq, hit.step) not in used_seqs]

    def flush(self) -> None:
        for step, seqs in self.consumed.items():
            WindowHit.objects.filter(rule=self.rule, step=step, seq__in=seqs).delete()
        WindowHit.objects.bulk_create(self.new, batch_size=1000)


class Seen:
    """Values already seen per group (first_seen rules), for the values of this batch."""

    def __init__(self, rule: AlertRule, pairs: set[tuple[str, str]]):
        self.rule = rule
        self.known: set[tuple[str, str]] = set()
        self.new: list[SeenValue] = []
        if pairs:
            keys, values = {k for k, _ in pairs}, {v for _, v in pairs}
            self.known = {pair for pair in SeenValue.objects.filter(rule=rule, group_key__in=keys, value__in=values)
                          .values_list("group_key", "value") if pair in pairs}

    def first_time(self, key: str, value: str, *, at, seq: int) -> bool:
        if (key, value) in self.known:
            return False
        self.known.add((key, value))
        self.new.append(SeenValue(rule=self.rule, group_key=key, value=value, first_at=at, first_seq=seq))
        return True

    def flush(self) -> None:
        SeenValue.objects.bulk_create(self.new, batch_size=1000, ignore_conflicts=True)


class OpenAlerts:
    """The rule's open (or acknowledged) alerts, locked for the batch; updates written at flush."""

    def __init__(self, rule: AlertRule):
        self.rule = rule
        self._by_key: dict[str, Alert] | None = None
        self.dirty: set[str] = set()
        self.touched = 0

    @property
    def by_key(self) -> dict[str, Alert]:
        # Loaded on first use: most rules see no matching event in most passes.
        if self._by_key is None:
            self._by_key = {a.dedup_key: a for a in Alert.objects.select_for_update().filter(rule=self.rule)
                            .exclude(state=Alert.State.RESOLVED)}
        return self._by_key

    def get(self, group: dict) -> Alert | None:
        return self.by_key.get(dedup_key(self.rule, group))

    def fire(self, group: dict, *, row: dict | None, first: tuple | None, title: str | None = None) -> Alert:
        """Count `row` into the open alert of its group, or open one (notified at once)."""
        self.touched += 1
        key = dedup_key(self.rule, group)
        alert = self.by_key.get(key)
        if alert is None:
            alert = alert_create(self.rule, group, row=row, first=first, title=title)
            self.by_key[key] = alert
            return alert
        alert.count += 1
        if row is not None:
            alert.last_seq = max(alert.last_seq or 0, row["seq"])
            if alert.last_event_at is None or row["occurred_at"] > alert.last_event_at:
                alert.last_event_at = row["occurred_at"]
        self.dirty.add(key)
        return alert

    def flush(self) -> None:
        if not self.dirty:
            return
        now = timezone.now()
        changed = [self.by_key[key] for key in self.dirty]
        for alert in changed:
            alert.updated_at = now
        Alert.objects.bulk_update(changed, ["count", "last_seq", "last_event_at", "updated_at"], batch_size=500)
