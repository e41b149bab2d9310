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


# --- the real samples of ../shared/realdata, mapped as the importers will map them ----------------
# A stand-in until apps.importers lands: the same action names (CloudTrail
# `<service short name>.<snake_case eventName>`, Okta its eventType, Kubernetes
# `k8s.<resource>.<verb>`), outcome, actor and source IP; the rest of each record goes to metadata.

import ipaddress  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

REALDATA = Path("/work/shared/realdata")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _ip(value: str):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def cloudtrail_events(name: str) -> list[dict]:
    """A Stratus Red Team detonation log (CloudTrail records) as raw events."""
    records = json.loads((REALDATA / "aws_cloudtrail/stratus_red_team" / name).read_text())
    records = records["Records"] if isinstance(records, dict) else records
    events = []
    for index, r in enumerate(records):
        error = r.get("errorCode") or ""
        login_failed = (r.get("responseElements") or {}).get("ConsoleLogin") == "Failure"
        if error and ("Unauthorized" in error or "AccessDenied" in error):
            outcome = "denied"
        elif error or login_failed:
            outcome = "failure"
        else:
            outcome = "success"
        who = r.get("userIdentity") or {}
        service = r["eventSource"].split(".")[0]
        events.append({
            "event_id": f"{name}:{index}:{r['eventID']}", "action": f"{service}.{_snake(r['eventName'])}",
            "timestamp": r["eventTime"], "outcome": outcome,
            "actor": {"id": who.get("arn") or who.get("principalId") or "", "type": "user" if who.get("type") == "IAMUser" else "service"},
            "ip_address": _ip(r.get("sourceIPAddress") or ""), "region": r.get("awsRegion", ""),
            "metadata": {"requestParameters": r.get("requestParameters"), "errorCode": error,
                         "responseElements": r.get("responseElements"), "userIdentity": who,
                         "sourceIPAddress": r.get("sourceIPAddress")},
        })
    return events


def k8s_events(name: str) -> list[dict]:
    """A Falco trace file (Kubernetes audit events, one per line) as raw events."""
    events = []
    for index, line in enumerate((REALDATA / "kubernetes_audit/falco_trace_files" / name).read_text().splitlines()):
        r = json.loads(line)
        ref = r.get("objectRef") or {}
        code = (r.get("responseStatus") or {}).get("code") or 200
        events.append({
            "event_id": f"{name}:{index}:{r['auditID']}", "action": f"k8s.{ref.get('resource')}.{r['verb']}",
            "timestamp": r["stageTimestamp"], "outcome": "success" if code < 400 else ("denied" if code == 403 else "failure"),
            "actor": {"id": r["user"]["username"], "type": "user"}, "ip_address": _ip((r.get("sourceIPs") or [""])[0]),
            "resource": {"type": ref.get("resource", ""), "name": ref.get("name", "")},
            "metadata": {"requestObject": r.get("requestObject"), "objectRef": ref},
        })
    return events


def okta_events(name: str) -> list[dict]:
    events = []
    for line in (REALDATA / "okta/panther_test_scenarios" / name).read_text().splitlines():
        r = json.loads(line)
        events.append(okta_event(r))
    return events


def okta_event(r: dict) -> dict:
    result = (r.get("outcome") or {}).get("result", "UNKNOWN")
    return {
        "event_id": r["uuid"], "action": r["eventType"], "timestamp": r["published"],
        "outcome": {"SUCCESS": "success", "FAILURE": "failure", "DENY": "denied"}.get(result, "unknown"),
        "actor": {"id": r["actor"]["id"], "email": r["actor"].get("alternateId", ""), "type": "user"},
        "ip_address": _ip((r.get("client") or {}).get("ipAddress") or ""),
        "metadata": {"target": r.get("target"), "displayMessage": r.get("displayMessage")},
    }
