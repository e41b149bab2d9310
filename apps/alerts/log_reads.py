"""The evaluator's reads of the log: the only module of the alerts app that reads Event.objects
without a person's visibility rule.

Rules are system-level detections: they must see every event, whoever reads the alert later.
Nothing here is shown to a person directly; previews and backtests, which are, read through
`Event.objects.visible_to(user)` (apps.alerts.backtest).
"""
from __future__ import annotations

from django.db.models import BooleanField, ExpressionWrapper, Q

from apps.events.models import Event

COLUMNS = [f.attname for f in Event._meta.concrete_fields if f.attname not in ("prev_hash", "hash")]


def rule_rows(q: Q, then_q: Q | None, *, after: int, head: int, limit: int) -> list[dict]:
    """Matching events with after < seq <= head, in seq order, as dicts of columns.

    With `then_q` (a sequence rule), rows matching either step, flagged `_is_a` and `_is_b`.
    """
    where = q if then_q is None else (q | then_q)
    qs = Event.objects.filter(where, seq__gt=after, seq__lte=head)
    if then_q is None:
        return list(qs.order_by("seq").values(*COLUMNS)[:limit])
    qs = qs.annotate(_is_a=ExpressionWrapper(q, output_field=BooleanField()),
                     _is_b=ExpressionWrapper(then_q, output_field=BooleanField()))
    return list(qs.order_by("seq").values(*COLUMNS, "_is_a", "_is_b")[:limit])


def event_matches(seq: int, q: Q) -> bool:
    """Whether the event at `seq` matches `q` (a silence's query)."""
    return Event.objects.filter(q, seq=seq).exists()
