"""Building one demo event: the stored fields of DESIGN.md, as chain_append takes them.

The dicts are made directly (not through schema.normalize_event) because seeding a million
events must be fast; tests check that normalize_event would give back the very same dict.
Lists and dicts shared between events (tags, per-project metadata) are never mutated.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from ulid import ULID

from apps.demo.generator.world import Person, Service, World

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NO_TAGS: list[str] = []
NO_METADATA: dict = {}
_BUMP = {"info": "low", "low": "medium", "medium": "high", "high": "high", "critical": "critical"}


def to_datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def to_micros(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Session:
    """Who is acting, from where and how: the actor fields every event of a session shares."""

    __slots__ = ("actor_type", "actor_id", "actor_name", "actor_email", "auth_method", "ip", "user_agent",
                 "session_id", "name", "geo", "person")

    def __init__(self, *, actor_type, actor_id, actor_name, actor_email, auth_method, ip, user_agent,
                 session_id="", name="", geo=None, person=None):
        self.actor_type, self.actor_id, self.actor_name = actor_type, actor_id, actor_name
        self.actor_email, self.auth_method, self.ip, self.user_agent = actor_email, auth_method, ip, user_agent
        self.session_id, self.name, self.geo, self.person = session_id, name or actor_name, geo, person

    @classmethod
    def of_person(cls, person: Person, *, ip: str, user_agent: str, auth_method: str, session_id: str,
                  geo: dict | None = None) -> "Session":
        return cls(actor_type="user", actor_id=person.id, actor_name=person.name, actor_email=person.email,
                   auth_method=auth_method, ip=ip, user_agent=user_agent, session_id=session_id, geo=geo,
                   person=person)

    @classmethod
    def of_service(cls, service: Service) -> "Session":
        return cls(actor_type=service.actor_type, actor_id=service.id, actor_name=service.name, actor_email="",
                   auth_method=service.auth_method, ip=service.ip, user_agent=service.user_agent)


class Builder:
    """Makes events from one seeded random stream (so a seed gives the same events)."""

    def __init__(self, rng: random.Random, world: World, *, ids: random.Random) -> None:
        self.rng = rng
        self.world = world
        self.random = rng.random
        self.choice = rng.choice
        self.bits = rng.getrandbits
        # Event ids draw from their own stream, seeded with the seed and the end of the window:
        # people's sessions fall on the same clock times for any end on the same day, and two
        # runs with one seed must still not make the same ids (they would be taken as
        # duplicates and skipped) unless they are the very same run.
        self.id_bits = ids.getrandbits

    def hex(self, digits: int) -> str:
        return f"{self.bits(digits * 4):0{digits}x}"

    def trace(self, micros: int) -> str:
        # A W3C trace id whose first 8 hex digits are the epoch second, as AWS X-Ray makes them.
        # Time-ordered ids also land at the right edge of the trace-id index instead of all
        # over it, which keeps a million-event seed from rewriting half the index's pages.
        return f"{micros // 1_000_000:08x}{self.bits(96):024x}"

    def request_id(self, micros: int) -> str:
        # Sortable like the trace id (millisecond first), for the same reason: the request-id
        # index then grows at its right edge.
        return f"req_{micros // 1000:011x}{self.bits(36):09x}"

    def event_id(self, micros: int) -> str:
        # A ULID made from the event's own time, with seeded randomness: sortable by time.
        return "evt_" + str(ULID((((micros // 1000) << 80) | self.id_bits(80)).to_bytes(16, "big")))

    def event(self, s: Session, t: int, action: str, category: str, *, outcome="success", severity="info",
              rtype="", rid="", rname="", project="", region="", method="", path="", status=None, trace="",
              tags=NO_TAGS, description="", changes=None, metadata=NO_METADATA) -> tuple[int, dict]:
        return t, {
            "event_id": self.event_id(t),
            "occurred_at": EPOCH + timedelta(microseconds=t),
            "action": action,
            "category": category,
            "outcome": outcome,
            "severity": severity,
            "actor_type": s.actor_type,
            "actor_id": s.actor_id,
            "actor_name": s.actor_name,
            "actor_email": s.actor_email,
            "auth_method": s.auth_method,
            "ip_address": s.ip,
            "user_agent": s.user_agent,
            "session_id": s.session_id,
            "resource_type": rtype,
            "resource_id": rid,
            "resource_name": rname,
            "project": project,
            "region": region,
            "request_method": method,
            "request_path": path,
            "status_code": status,
            "trace_id": trace,
            "request_id": self.request_id(t) if method else "",
            "tags": tags,
            "description": description,
            "changes": changes,
            "metadata": metadata,
        }

    def call(self, s: Session, t: int, action: str, category: str, verb: tuple[str, str], what: str, *,
             ok: int = 200, method: str, path: str, severity: str = "info", changes=None,
             metadata=NO_METADATA, trace: str = "", deny: float = 0.01, fail: float = 0.006,
             error: float = 0.003, why: str = "the request was invalid", fail_status: int = 422,
             **fields) -> tuple[int, dict]:
        """An API call with a mostly successful, sometimes denied, failed or erroring outcome.

        `verb` is (present, past): ("create", "created"). A call that did not succeed changed
        nothing, so it carries no `changes`.
        """
        trace = trace or self.trace(t)
        r = self.random()
        if r >= deny + fail + error:
            return self.event(s, t, action, category, severity=severity, method=method, path=path, status=ok,
                              trace=trace, changes=changes, metadata=metadata,
                              description=f"{s.name} {verb[1]} {what}.", **fields)
        if r < deny:
            outcome, status, severity = "denied", 403, _BUMP[severity]
            description = f"{s.name} was denied permission to {verb[0]} {what}."
        elif r < deny + fail:
            outcome, status = "failure", fail_status
            description = f"{s.name} could not {verb[0]} {what}: {why}."
        else:
            outcome, status = "error", self.choice((500, 502, 503))
            description = f"{s.name} tried to {verb[0]} {what}, but the service failed with a {status}."
        return self.event(s, t, action, category, outcome=outcome, severity=severity, method=method, path=path,
                          status=status, trace=trace, metadata=metadata, description=description, **fields)
