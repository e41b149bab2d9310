"""Helpers for the alerts tests: a small log written through the real ingest, rules saved
through the real write, and the evaluator run as the worker runs it."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from apps.alerts.evaluate import alerts_evaluate
from apps.alerts.models import AlertRule
from apps.alerts.rules import rule_save
from apps.events.ingest import event_ingest

T0 = datetime(2026, 3, 10, 10, 0, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def sign_in(actor: str, *, outcome: str = "failure", at: datetime, ip: str = "192.0.2.10",
            action: str = "auth.login", **fields) -> dict:
    """A sign-in as the demo and the console write it (auth.login, outcome, actor, source IP)."""
    return {"event_id": f"t-{next(_ids)}", "action": action, "timestamp": at.isoformat(), "outcome": outcome,
            "actor": {"id": actor.split("@")[0], "email": actor, "type": "user"}, "ip_address": ip, **fields}


@pytest.fixture
def write():
    """Append raw events to the log through the real ingest."""

    def append(*events):
        return event_ingest(list(events))

    return append


@pytest.fixture
def make_rule(db):
    """Save a rule through rule_save (validated, cursor at the head), returns it."""

    def make(**values):
        values.setdefault("name", f"rule {next(_ids)}")
        values.setdefault("kind", "match")
        values.setdefault("severity", "high")
        values.setdefault("enabled", True)
        return rule_save(values=values)

    return make


@pytest.fixture
def evaluate():
    """Run the evaluation for the given rules (all enabled rules when none are named)."""

    def run(*rules):
        return alerts_evaluate(rule_ids=[r.pk for r in rules] if rules else None)

    return run


@pytest.fixture
def builtins(db):
    """The built-in detections as the migration installs them (restored if a flush removed them)."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("apps.alerts.migrations.0002_builtin_rules")
    migration.install(apps, None)
    return {rule.builtin: rule for rule in AlertRule.objects.exclude(builtin="")}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
