"""Attack and misuse stories hidden in the demo log, at recent, clearly identifiable times.

Each story is a handful of events an analyst should be able to find with the console: a
brute force ending in a takeover, a privilege escalation, off-hours admin work, a burst of
resource creation and a firewall opened to the world. They are placed relative to the end of
the seeded window (hours or days before it), so every seed shows them in the last few days.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apps.demo.generator.build import Builder, Session, to_datetime, to_micros
from apps.demo.generator.catalogue import T_EXPORT, T_IAM, T_NETWORK, T_POSTURE, T_PROVISION
from apps.demo.generator.sessions import failed_login, login, logout, mfa_verify
from apps.demo.generator.world import CLIS, Person

HOUR = 3_600_000_000
MINUTE = 60_000_000
SECOND = 1_000_000
# The oldest story sits this far before the end; shorter windows squeeze all stories in.
_SPAN = 96 * HOUR
_SAFE = {"deny": 0, "fail": 0, "error": 0}
_INTRUDER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


@dataclass
class Story:
    key: str
    title: str
    actor: str
    summary: str
    find: str
    events: list = field(default_factory=list)
    # The actor's time zone, to read the story's times as they lived them.
    tz: str = "UTC"
    seqs: tuple[int, int] | None = None

    @property
    def start(self) -> datetime:
        return to_datetime(self.events[0][0])

    @property
    def end(self) -> datetime:
        return to_datetime(self.events[-1][0])

    @property
    def event_ids(self) -> list[str]:
        return [event["event_id"] for _, event in self.events]


def _during(events: list) -> str:
    """A query term for the minutes the events span."""
    first, last = to_datetime(events[0][0]), to_datetime(events[-1][0])
    return f"time:{first:%Y-%m-%dT%H:%M}:00Z..{last:%Y-%m-%dT%H:%M}:59Z"


def _before_end(start: int, end: int, hours: float) -> int:
    """`hours` before the end (squeezed into short windows), on a whole minute."""
    offset = int(hours * HOUR * min(1.0, (end - start) * 0.9 / _SPAN))
    t = end - offset
    return t - t % MINUTE


def stories_make(b: Builder, start: int, end: int) -> list[Story]:
    target = b.world.person("finance", b.rng)
    climber = b.world.person("developer", b.rng)
    burster = b.world.person("developer", b.rng, besides=(climber,))
    night_admin = b.world.person("admin", b.rng)
    opener = b.world.person("platform", b.rng)
    fixer = b.world.person("security", b.rng)
    # The takeover works because this account signs in with a password and no second factor;
    # set before the background is generated, so all of the target's sign-ins agree.
    target.auth_method, target.uses_mfa = "password", False
    return [
        firewall_opened(b, opener, fixer, _before_end(start, end, 6)),
        brute_force(b, target, _before_end(start, end, 26)),
        creation_burst(b, burster, _before_end(start, end, 31)),
        privilege_escalation(b, climber, _before_end(start, end, 50)),
        off_hours_admin(b, night_admin, start, end, _before_end(start, end, 72)),
    ]


def brute_force(b: Builder, target: Person, t: int) -> Story:
    attacker_ip = f"192.0.2.{b.rng.randrange(20, 120)}"
    takeover_ip = f"192.0.2.{b.rng.randrange(140, 250)}"
    attacker = Session.of_person(target, ip=attacker_ip, user_agent="python-requests/2.31.0", auth_method="password",
                                 session_id="", geo={"geo": {"country": "NL", "city": "Amsterdam", "asn": "AS64501"}})
    events = []
    for attempt in range(1, 31):
        events.append(failed_login(b, attacker, t, metadata={**attacker.geo, "failure_reason": "invalid_password",
                                                             "attempt": attempt}))
        t += int((5 + 9 * b.random()) * SECOND)
    t += 3 * MINUTE + 12 * SECOND
    intruder = Session.of_person(target, ip=takeover_ip, user_agent=_INTRUDER_BROWSER,
                                 auth_method="password", session_id="sess_" + b.hex(20),
                                 geo={"geo": {"country": "RO", "city": "Bucharest"}})
    events.append(login(b, intruder, t, severity="medium",
                        metadata={**intruder.geo, "risk": {"new_ip": True, "new_device": True}}))
    meta = b.world.project_metadata["billing"]
    t += 2 * MINUTE + 5 * SECOND
    events.append(b.call(intruder, t, "data.export", "data", ("export", "exported"), "1,482,907 rows of invoices as csv",
                         ok=202, method="POST", path="/v2/projects/billing/exports", rtype="dataset", rid="ds_invoices",
                         rname="invoices", project="billing", region="us-east-1", severity="medium", tags=T_EXPORT,
                         metadata={**meta, "format": "csv", "rows": 1482907}, **_SAFE))
    t += 3 * MINUTE + 41 * SECOND
    events.append(b.call(intruder, t, "iam.token.create", "iam", ("create", "created"),
                         "API token sync-tool for project billing",
                         ok=201, method="POST", path="/v2/iam/tokens", rtype="api_token", rid="tok_" + b.hex(12),
                         rname="sync-tool", project="billing", severity="medium", tags=T_IAM, metadata=meta,
                         changes={"before": None, "after": {"scopes": ["read", "write"], "expires_in_days": 365}}, **_SAFE))
    return Story("brute_force", "Brute force, then a sign-in from a new address", target.email,
                 f"30 failed auth.login (password) for {target.email} from {attacker_ip}, then a success from "
                 f"{takeover_ip} followed by a data export and a new API token",
                 f"ip IN ({attacker_ip}, {takeover_ip})", events, tz=target.tz.key)


def privilege_escalation(b: Builder, p: Person, t: int) -> Story:
    console = Session.of_person(p, ip=p.office[0], user_agent=p.browser, auth_method=p.auth_method,
                                session_id="sess_" + b.hex(20), geo=p.office[1])
    cli = Session.of_person(p, ip=p.office[0], user_agent=p.cli, auth_method="token", session_id="")
    meta = b.world.project_metadata["prod"]
    path = f"/v2/projects/prod/members/{p.id}/roles"
    events = [b.event(console, t, "iam.role.update", "iam", outcome="denied", severity="medium", rtype="user",
                      rid=p.id, rname=p.email, project="prod", method="PUT", path=path, status=403,
                      trace=b.trace(t), tags=T_IAM, metadata=meta,
                      description=f"{p.name} was denied permission to change their own role in project prod to admin.")]
    t += 2 * MINUTE + 40 * SECOND
    events.append(b.call(cli, t, "iam.role.update", "iam", ("grant", "granted"), "themselves the admin role in project prod",
                         method="PUT", path=path, rtype="user", rid=p.id, rname=p.email, project="prod",
                         severity="high", tags=T_IAM, metadata=meta,
                         changes={"before": {"roles": ["developer"]}, "after": {"roles": ["developer", "admin"]}}, **_SAFE))
    t += 3 * MINUTE + 2 * SECOND
    bucket_id, bucket = b.world.resources["prod"].buckets[1]
    key = "db/prod-main/full-dump.sql.gz"
    events.append(b.call(cli, t, "storage.object.read", "storage", ("read", "read"), f"{key} from bucket {bucket}",
                         method="GET", path=f"/v2/projects/prod/buckets/{bucket}/objects/{key}", rtype="object",
                         rid=f"{bucket_id}/{key}", rname=key, project="prod", region="us-east-1",
                         tags=["data-access"], metadata=meta, **_SAFE))
    t += 5 * MINUTE + 17 * SECOND
    events.append(b.call(cli, t, "iam.token.create", "iam", ("create", "created"), "API token ops-admin for project prod",
                         ok=201, method="POST", path="/v2/iam/tokens", rtype="api_token", rid="tok_" + b.hex(12),
                         rname="ops-admin", project="prod", severity="medium", tags=T_IAM, metadata=meta,
                         changes={"before": None, "after": {"scopes": ["admin"], "expires_in_days": 365}}, **_SAFE))
    return Story("privilege_escalation", "Privilege escalation: a developer grants themselves admin", p.email,
                 f"{p.email} is denied, then grants themselves the admin role (iam.role.update, severity high) "
                 f"with a CLI token, reads a production database dump and creates an admin token",
                 f"actor.email:{p.email} AND {_during(events)}", events, tz=p.tz.key)


def off_hours_admin(b: Builder, p: Person, start: int, end: int, before: int) -> Story:
    # The latest 03:00 in the admin's own time zone at or before `before` (and inside the window).
    local = to_datetime(before).astimezone(p.tz)
    night = local.replace(hour=3, minute=4, second=0, microsecond=0)
    if night > local:
        night -= timedelta(days=1)
    t = to_micros(night)
    if t < start and t + 24 * HOUR + 30 * MINUTE <= end:
        t += 24 * HOUR
    s = Session.of_person(p, ip=p.home[0], user_agent=p.browser, auth_method=p.auth_method,
                          session_id="sess_" + b.hex(20), geo=p.home[1])
    meta = b.world.project_metadata["prod"]
    contractor, contractor_id = "ops.contractor@example.com", "usr_" + b.hex(8)
    events = [login(b, s, t)]
    t += 40 * SECOND
    events.append(mfa_verify(b, s, t))
    t += 4 * MINUTE + 11 * SECOND
    events.append(b.call(s, t, "config.settings.update", "config", ("change", "changed"),
                         "mfa_required from true to false in project prod", method="PATCH",
                         path="/v2/projects/prod/settings",
                         rtype="settings", rid="settings/prod", rname="mfa_required", project="prod", severity="high",
                         metadata=meta, changes={"before": {"mfa_required": True}, "after": {"mfa_required": False}},
                         **_SAFE))
    t += 3 * MINUTE + 50 * SECOND
    events.append(b.call(s, t, "iam.user.create", "iam", ("create", "created"), f"user {contractor} with role viewer",
                         ok=201, method="POST", path="/v2/iam/users", rtype="user", rid=contractor_id, rname=contractor,
                         severity="medium", tags=T_IAM,
                         changes={"before": None, "after": {"email": contractor, "roles": ["viewer"]}}, **_SAFE))
    t += 1 * MINUTE + 26 * SECOND
    events.append(b.call(s, t, "iam.role.update", "iam", ("change", "changed"),
                         f"the role of {contractor} in project prod from viewer to admin", method="PUT",
                         path=f"/v2/projects/prod/members/{contractor_id}/roles", rtype="user", rid=contractor_id,
                         rname=contractor, project="prod", severity="high", tags=T_IAM, metadata=meta,
                         changes={"before": {"roles": ["viewer"]}, "after": {"roles": ["admin"]}}, **_SAFE))
    t += 4 * MINUTE + 3 * SECOND
    events.append(b.call(s, t, "config.settings.update", "config", ("change", "changed"),
                         "audit_retention_days from 365 to 30 in project prod", method="PATCH",
                         path="/v2/projects/prod/settings", rtype="settings", rid="settings/prod",
                         rname="audit_retention_days", project="prod", severity="high", metadata=meta,
                         changes={"before": {"audit_retention_days": 365}, "after": {"audit_retention_days": 30}}, **_SAFE))
    t += 3 * MINUTE + 35 * SECOND
    events.append(logout(b, s, t))
    local_time = night.strftime("%H:%M")
    return Story("off_hours_admin", "Off-hours admin work", p.email,
                 f"{p.email} signs in at {local_time} {p.tz.key} time from home, turns off MFA, creates an admin "
                 f"contractor account and cuts audit retention to 30 days",
                 f"actor.email:{p.email} AND {_during(events)}", events, tz=p.tz.key)


def creation_burst(b: Builder, p: Person, t: int) -> Story:
    s = Session.of_person(p, ip=p.home[0], user_agent=CLIS[1], auth_method="token", session_id="")
    meta = b.world.project_metadata["prod"]
    events = []
    for n in range(1, 41):
        name = f"ml-train-{n:02d}"
        fields = dict(rtype="server", rid="srv_" + b.hex(10), rname=name, project="prod", region="ap-southeast-1",
                      method="POST", path="/v2/projects/prod/servers", trace=b.trace(t), tags=T_PROVISION, metadata=meta)
        if n <= 36:
            events.append(b.call(s, t, "compute.servers.create", "compute", ("create", "created"),
                                 f"server {name} (gpu-a100-8) in ap-southeast-1", ok=201, **fields, **_SAFE,
                                 changes={"before": None,
                                          "after": {"flavor": "gpu-a100-8", "image": "ubuntu-24.04", "state": "running"}}))
        else:
            events.append(b.event(s, t, "compute.servers.create", "compute", outcome="failure", status=422,
                                  description=f"{p.name} could not create server {name} (gpu-a100-8) in ap-southeast-1: "
                                              f"the project's GPU quota is exhausted.", **fields))
        t += int((6 + 6 * b.random()) * SECOND)
    return Story("creation_burst", "Burst of resource creation", p.email,
                 f"{p.email} creates 36 GPU servers in ap-southeast-1 within minutes with a CLI token "
                 f"(4 more fail on quota)", f"action:compute.servers.create AND actor.email:{p.email} AND {_during(events)}",
                 events, tz=p.tz.key)


def firewall_opened(b: Builder, p: Person, fixer: Person, t: int) -> Story:
    s = Session.of_person(p, ip=p.office[0], user_agent=p.browser, auth_method=p.auth_method,
                          session_id="sess_" + b.hex(20), geo=p.office[1])
    resources, meta = b.world.resources["prod"], b.world.project_metadata["prod"]
    rule_id, rule, _, _ = next(r for r in resources.firewall_rules if r[2] == 22)
    group_id, group = next(g for g in resources.security_groups if g[1].startswith("sg-bastion"))
    trace = b.trace(t)
    path = f"/v2/projects/prod/firewall-rules/{rule_id}"
    rule_fields = dict(method="PATCH", path=path, rtype="firewall_rule", rid=rule_id, rname=rule, project="prod",
                       region="us-east-1", tags=T_NETWORK, metadata=meta)
    events = [b.call(s, t, "firewall.rule.update", "network", ("update", "updated"),
                     f"firewall rule {rule} to allow port 22 from 0.0.0.0/0 (the whole internet)", severity="critical",
                     trace=trace, changes={"before": {"cidr": "10.0.0.0/8", "port": 22, "protocol": "tcp"},
                                           "after": {"cidr": "0.0.0.0/0", "port": 22, "protocol": "tcp"}},
                     **rule_fields, **_SAFE)]
    t += 1_400_000
    events.append(b.call(s, t, "network.security_group.update", "network", ("update", "updated"), f"security group {group}",
                         method="PATCH", path=f"/v2/projects/prod/security-groups/{group_id}", rtype="security_group",
                         rid=group_id, rname=group, project="prod", region="us-east-1", severity="high", trace=trace,
                         tags=T_NETWORK, metadata=meta,
                         changes={"before": {"ingress_rules": 4}, "after": {"ingress_rules": 5}}, **_SAFE))
    scanner = next(svc for svc in b.world.services if svc.name == "security-scanner")
    t += 4 * MINUTE + 9 * SECOND
    events.append(b.event(Session.of_service(scanner), t, "security.finding.create", "security", severity="critical",
                          rtype="security_group", rid=group_id, rname=group, project="prod", method="POST",
                          path="/v2/security/findings", status=201, trace=b.trace(t), tags=T_POSTURE, metadata=meta,
                          description=f"security-scanner found that security group {group} allows SSH (port 22) "
                                      f"from anywhere."))
    t += 43 * MINUTE + 20 * SECOND
    fix = Session.of_person(fixer, ip=fixer.office[0], user_agent=fixer.browser, auth_method=fixer.auth_method,
                            session_id="sess_" + b.hex(20), geo=fixer.office[1])
    events.append(b.call(fix, t, "firewall.rule.update", "network", ("update", "updated"),
                         f"firewall rule {rule} back to allow port 22 from 10.0.0.0/8 only", severity="medium",
                         trace=b.trace(t), changes={"before": {"cidr": "0.0.0.0/0", "port": 22, "protocol": "tcp"},
                                                   "after": {"cidr": "10.0.0.0/8", "port": 22, "protocol": "tcp"}},
                         **rule_fields, **_SAFE))
    return Story("firewall_opened", "Firewall opened to the world", p.email,
                 f"{p.email} opens SSH (port 22) on {rule} in prod to 0.0.0.0/0 (severity critical); "
                 f"{fixer.email} closes it again 47 minutes later",
                 f"resource.id:({rule_id} OR {group_id}) AND {_during(events)}", events, tz=p.tz.key)
