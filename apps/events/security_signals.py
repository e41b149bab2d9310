"""The security signals: the kinds of event the dashboard counts and links to.

Each is defined once, as a query of the query language (what the viewer runs for its link) and
as the same test on an event's stored fields (what ingest counts into the rollups, which
apps.events.rollups compiles from the query). tests/dashboard checks that the two agree.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Signal:
    key: str
    label: str
    query: str
    severity: str  # how the dashboard colours it

    def matches(self, event: Mapping) -> bool:
        return _SIGNAL_TESTS[self.key](event)


SIGNALS: tuple[Signal, ...] = (
    Signal("failed_signins", "Failed sign-ins", "category:auth AND outcome:failure", "high"),
    Signal("locked_signins", "Locked sign-ins", "action:auth.lockout OR action:auth.account.locked", "high"),
    Signal("permission_changes", "Permission and role changes",
           "action:iam.role.* OR action:iam.policy.* OR action:iam.permission.* OR action:rbac.role.*", "medium"),
    Signal("denied", "Denied actions", "outcome:denied", "medium"),
    Signal("policy_violations", "Policy violations", "action:policy.violation* OR tags:policy-violation", "high"),
    Signal("high_severity", "High and critical severity", "severity:>=high", "critical"),
)

_PERMISSION_PREFIXES = ("iam.role.", "iam.policy.", "iam.permission.", "rbac.role.")
_SIGNAL_TESTS = {
    "failed_signins": lambda e: e.get("category") == "auth" and e.get("outcome") == "failure",
    "locked_signins": lambda e: e.get("action") in ("auth.lockout", "auth.account.locked"),
    "permission_changes": lambda e: (e.get("action") or "").startswith(_PERMISSION_PREFIXES),
    "denied": lambda e: e.get("outcome") == "denied",
    "policy_violations": lambda e: (e.get("action") or "").startswith("policy.violation")
    or "policy-violation" in (e.get("tags") or ()),
    "high_severity": lambda e: e.get("severity") in ("high", "critical"),
}


def signals_of(event: Mapping) -> list[str]:
    """The security signals an event (a mapping of stored fields) raises, for the rollups."""
    return [signal.key for signal in SIGNALS if signal.matches(event)]
