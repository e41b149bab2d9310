"""Helpers for the alerts tests: a small log written through the real ingest, rules saved
through the real write, and the evaluator run as the worker runs it."""
from __future__ import annotations

import itertools
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pytest

from apps.alerts.evaluate import alerts_evaluate
from apps.alerts.models import AlertRule
from apps.alerts.rules import rule_save
from apps.events.ingest import event_ingest
from apps.importers.formats import FORMATS
from apps.importers.formats.base import Refused, Skipped
from apps.importers.read import documents
from tests.factories import REALDATA

T0 = datetime(2026, 3, 10, 10, 0, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def sign_in(actor: str, *, outcome: str = "failure", at: datetime, ip: str = "192.0.2.10",
            action: str = "auth.login", **fields) -> dict:
    """A sign-in as the demo and the console write it (auth.login, outcome, actor, source IP)."""
    return {"event_id": f"t-{next(_ids)}", "action": action, "timestamp": at.isoformat(), "outcome": outcome,
            "actor": {"id": actor.split("@")[0], "email": actor, "type": "user"}, "ip_address": ip, **fields}


@pytest.fixture
def write(db):
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


# --- the real samples of ../shared/realdata, imported by apps.importers --------------------------


def imported(format_name: str, path: Path) -> list[dict]:
    """The events the real importer (apps.importers) makes of a sample file, as raw events for
    `write`: the same reading, mapping and event ids as `manage.py import_events`."""
    module = FORMATS[format_name]
    events = []
    with open(path, "rb") as stream:
        for located in documents(stream):
            for record in module.records(located.document) or []:
                try:
                    events.append(module.event_from(record))
                except (Refused, Skipped):
                    continue
    return events


def cloudtrail_events(name: str) -> list[dict]:
    """A Stratus Red Team detonation log (CloudTrail records), imported."""
    return imported("cloudtrail", REALDATA / "aws_cloudtrail/stratus_red_team" / name)


def k8s_events(name: str) -> list[dict]:
    """A Falco trace file (Kubernetes audit events, one per line), imported."""
    return imported("kubernetes", REALDATA / "kubernetes_audit/falco_trace_files" / name)


def okta_events(name: str) -> list[dict]:
    """A Panther test scenario (Okta System Log events, one per line), imported."""
    return imported("okta", REALDATA / "okta/panther_test_scenarios" / name)


def okta_event(record: dict) -> dict:
    """One Okta System Log record (as Okta writes them), imported."""
    return FORMATS["okta"].event_from(record)
