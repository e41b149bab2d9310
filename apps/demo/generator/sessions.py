"""Sessions: a person's visit to the console or use of the CLI, and one run of an automation.

A session is given a start time and an exact number of events (its budget), so that a seed
of N events makes exactly N events however the sessions fall.
"""
from __future__ import annotations

from types import SimpleNamespace

from apps.demo.generator.build import Builder, Session
from apps.demo.generator.catalogue import (
    OPERATIONS, T_AUTOMATION, T_BACKUP, T_CI, T_COST, T_POSTURE, pause, security_group_update, server_create,
    cluster_update, bucket_create, firewall_update,
)
from apps.demo.generator.world import PROJECTS, Person, Service

T_AUTH_FAILURE = ["authentication"]
_CLI_TEAMS = {"platform", "developer", "data"}


def _auth(b: Builder, s: Session, t: int, action: str, verb: str, *, path: str, ok: int = 200,
          outcome: str = "success", severity: str = "info", metadata=None, description: str = "", tags=None):
    p = s.person
    failed = outcome != "success"
    return b.event(s, t, action, "auth", outcome=outcome, severity=severity, rtype="user", rid=p.id, rname=p.email,
                   method="POST", path=path, status=401 if failed else ok, trace=b.trace(t),
                   tags=tags or (T_AUTH_FAILURE if failed else []), metadata=metadata or s.geo,
                   description=description or f"{s.name} {verb}.")


def login(b: Builder, s: Session, t: int, **kwargs):
    how = "a password" if s.auth_method == "password" else s.auth_method.upper()
    return _auth(b, s, t, "auth.login", f"signed in with {how}", path="/v2/auth/login", **kwargs)


def failed_login(b: Builder, s: Session, t: int, *, reason: str = "invalid_password", metadata=None, severity="low"):
    return login(b, s, t, outcome="failure", severity=severity,
                 metadata=metadata or {**s.geo, "failure_reason": reason},
                 description=f"{s.name} failed to sign in ({reason.replace('_', ' ')}).")


def mfa_verify(b: Builder, s: Session, t: int):
    factor = b.choice(("totp", "totp", "webauthn", "push"))
    return _auth(b, s, t, "auth.mfa.verify", f"passed multi-factor verification ({factor})",
                 path="/v2/auth/mfa/verify", metadata={**s.geo, "factor": factor})


def logout(b: Builder, s: Session, t: int):
    return _auth(b, s, t, "auth.logout", "signed out", path="/v2/auth/logout", ok=204)


def password_change(b: Builder, s: Session, t: int):
    return _auth(b, s, t, "auth.password.change", "changed their password", path="/v2/auth/password",
                 ok=204, severity="low")


def _gap(b: Builder) -> int:
    # People pause between actions: mostly under two minutes, sometimes much longer.
    return int((b.rng.expovariate(1 / 75) + 2) * 1_000_000)


def person_session(b: Builder, p: Person, start: int, budget: int) -> list:
    """A console visit (sign-in, MFA, work, sometimes sign-out) or a stretch of CLI use."""
    r = b.random()
    ip, geo = p.office if r < 0.62 else p.home if r < 0.95 else p.vpn
    cli = p.team in _CLI_TEAMS and b.random() < 0.3
    if cli:
        s = Session.of_person(p, ip=ip, user_agent=p.cli, auth_method="token", session_id="", geo=geo)
    else:
        s = Session.of_person(p, ip=ip, user_agent=p.browser, auth_method=p.auth_method,
                              session_id="sess_" + b.hex(20), geo=geo)
    out, t = [], start
    remaining = budget
    if not cli:
        if remaining >= 2 and b.random() < 0.04:
            reason = "invalid_password" if p.auth_method == "password" else "idp_assertion_expired"
            out.append(failed_login(b, s, t, reason=reason))
            t += int((5 + 20 * b.random()) * 1_000_000)
            remaining -= 1
        out.append(login(b, s, t))
        remaining -= 1
        if p.uses_mfa and remaining:
            t += int((4 + 25 * b.random()) * 1_000_000)
            out.append(mfa_verify(b, s, t))
            remaining -= 1
        if remaining and b.random() < 0.004:
            t += _gap(b)
            out.append(password_change(b, s, t))
            remaining -= 1
    sign_out = not cli and remaining >= 2 and b.random() < 0.45
    work = p.work
    while remaining > sign_out:
        t += _gap(b)
        events = OPERATIONS[work[int(b.random() * len(work))]](b, s, t, p)
        if len(events) > remaining - sign_out:
            events = events[:remaining - sign_out]
        out.extend(events)
        remaining -= len(events)
        t = events[-1][0]
    if sign_out:
        out.append(logout(b, s, t + _gap(b)))
    return out


# --- automation ----------------------------------------------------------------------------

_CI_PROFILE = SimpleNamespace(projects=("prod", "staging", "staging"), first_name="terraform")
_CI_STEPS = (server_create, security_group_update, cluster_update, bucket_create, firewall_update, server_create)


def deploy_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    """One `terraform apply` of the CI pipeline: every change of the run shares its trace id."""
    s, trace, out, t = Session.of_service(svc), b.trace(start), [], start
    while len(out) < budget:
        t += pause(b, 800, 9000)
        out.extend(b.choice(_CI_STEPS)(b, s, t, _CI_PROFILE))
        t = out[-1][0]
    del out[budget:]
    for _, event in out:
        event["trace_id"], event["tags"] = trace, T_CI
    return out


def autoscale_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    s, trace, out, t = Session.of_service(svc), b.trace(start), [], start
    project = b.choice(("prod", "prod", "staging", "data-platform"))
    resources, meta = b.world.resources[project], b.world.project_metadata[project]
    up = b.random() < 0.55
    cpu = b.rng.randrange(81, 97) if up else b.rng.randrange(8, 25)
    metadata = {**meta, "trigger": f"cpu_utilization {cpu}% {'>' if up else '<'} {'80' if up else '30'}% for 10m"}
    for _ in range(budget):
        t += pause(b, 200, 4000)
        rid, name, plan = b.choice(resources.vps)
        region = b.choice(PROJECTS[project][2])
        if b.random() < 0.5:
            new = "performance-4" if up else "standard-2"
            direction = "up" if up else "down"
            out.append(b.call(s, t, f"vps.scale.{direction}", "compute", (f"scale {direction}", f"scaled {direction}"),
                              f"{name} from {plan} to {new}", method="PATCH", path=f"/v2/projects/{project}/vps/{rid}",
                              rtype="vps", rid=rid, rname=name, project=project, region=region, trace=trace,
                              metadata=metadata, deny=0, changes={"before": {"plan": plan}, "after": {"plan": new}}))
        elif up:
            name = f"worker-{project[:4]}-{b.hex(4)}"
            out.append(b.call(s, t, "compute.servers.create", "compute", ("create", "created"),
                              f"server {name} to add capacity", ok=201, method="POST",
                              path=f"/v2/projects/{project}/servers", rtype="server", rid="srv_" + b.hex(10),
                              rname=name, project=project, region=region, trace=trace, metadata=metadata, deny=0,
                              why="the project's vCPU quota is exhausted",
                              changes={"before": None,
                                       "after": {"flavor": "standard-4", "image": "ubuntu-24.04", "state": "running"}}))
        else:
            rid, name = b.choice(resources.servers)
            out.append(b.call(s, t, "compute.servers.delete", "compute", ("delete", "deleted"),
                              f"idle server {name}", ok=204, method="DELETE", path=f"/v2/projects/{project}/servers/{rid}",
                              rtype="server", rid=rid, rname=name, project=project, region=region, trace=trace,
                              metadata=metadata, deny=0, changes={"before": {"state": "running"}, "after": None}))
    return out


def backup_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    s, trace, out, t = Session.of_service(svc), b.trace(start), [], start
    for _ in range(budget):
        t += pause(b, 3000, 45000)
        project = b.choice(("prod", "prod", "data-platform", "billing"))
        rid, name = b.choice(b.world.resources[project].servers)
        region = b.choice(PROJECTS[project][2])
        snapshot = f"{name}-daily-{b.hex(6)}"
        out.append(b.call(s, t, "storage.snapshot.create", "storage", ("snapshot", "snapshotted"),
                          f"the volumes of {name} as {snapshot}", ok=201, method="POST",
                          path=f"/v2/projects/{project}/snapshots", rtype="snapshot", rid="snap_" + b.hex(10),
                          rname=snapshot, project=project, region=region, trace=trace, tags=T_BACKUP, deny=0,
                          fail=0.01, why="the volume is busy", fail_status=409,
                          metadata={**b.world.project_metadata[project], "source_server": rid}))
    return out


def billing_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    s, trace, out, t = Session.of_service(svc), b.trace(start), [], start
    invoices = b.random() < 0.12
    projects = list(PROJECTS)
    for n in range(budget):
        t += pause(b, 100, 3000)
        project = projects[n % len(projects)]
        meta = b.world.project_metadata[project]
        if invoices:
            invoice = f"INV-2026-{b.hex(6).upper()}"
            out.append(b.call(s, t, "billing.invoice.generate", "billing", ("generate", "generated"),
                              f"invoice {invoice} for project {project}", ok=201, method="POST",
                              path="/v2/billing/invoices", rtype="invoice", rid=invoice, rname=invoice, project=project,
                              trace=trace, tags=T_COST, deny=0,
                              metadata={**meta, "amount_usd": b.rng.randrange(300, 48000)}))
        else:
            out.append(b.call(s, t, "billing.usage.sync", "billing", ("sync", "synced"),
                              f"usage records for project {project}", method="POST", path="/v2/billing/usage/sync",
                              rtype="usage_report", rid=f"usage/{project}", rname=project, project=project, trace=trace,
                              tags=T_COST, deny=0, metadata={**meta, "records": b.rng.randrange(200, 90000)}))
    return out


def cost_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    """The cost optimiser acts inside the platform: no HTTP request, auth_method system."""
    s, trace, out, t = Session.of_service(svc), b.trace(start), [], start
    for _ in range(budget):
        t += pause(b, 500, 6000)
        project = b.choice(("staging", "dev", "dev", "data-platform"))
        region, meta = b.choice(PROJECTS[project][2]), b.world.project_metadata[project]
        if b.random() < 0.7:
            rid, name = b.choice(b.world.resources[project].servers)
            days = b.rng.randrange(3, 15)
            out.append(b.event(s, t, "compute.servers.stop", "compute", rtype="server", rid=rid, rname=name,
                               project=project, region=region, trace=trace, tags=T_AUTOMATION, metadata=meta,
                               changes={"before": {"state": "running"}, "after": {"state": "stopped"}},
                               description=f"cost-optimizer stopped idle server {name} (CPU under 2% for {days} days)."))
        else:
            rid, idle = "vol_" + b.hex(10), b.rng.randrange(30, 120)
            out.append(b.event(s, t, "resource.delete", "storage", severity="low", rtype="volume", rid=rid, rname=rid,
                               project=project, region=region, trace=trace, tags=T_AUTOMATION, metadata=meta,
                               changes={"before": {"state": "available"}, "after": None},
                               description=f"cost-optimizer deleted volume {rid}, unattached for {idle} days."))
    return out


def reaper_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    s, out, t = Session.of_service(svc), [], start
    for _ in range(budget):
        t += pause(b, 50, 2000)
        p = b.choice(b.world.people)
        out.append(b.event(s, t, "auth.session.expire", "auth", rtype="session", rid="sess_" + b.hex(20),
                           rname=p.email, trace=b.trace(t),
                           description=f"session-reaper ended the idle session of {p.email} after 30 minutes."))
    return out


_FINDINGS = (
    ("bucket", "buckets", "low", "has object versioning turned off"),
    ("bucket", "buckets", "high", "allows public read access"),
    ("security_group", "security_groups", "medium", "has an ingress rule wider than the corporate ranges"),
    ("server", "servers", "medium", "runs an image with a critical OpenSSL advisory"),
    ("server", "servers", "low", "has no backup policy attached"),
)


def scan_run(b: Builder, svc: Service, start: int, budget: int) -> list:
    s, trace, out, t = Session.of_service(svc), b.trace(start), [], start
    for _ in range(budget):
        t += pause(b, 1000, 20000)
        project = b.choice(("prod", "staging", "data-platform", "dev"))
        kind, pool, severity, finding = b.choice(_FINDINGS)
        rid, name = b.choice(getattr(b.world.resources[project], pool))[:2]
        out.append(b.event(s, t, "security.finding.create", "security", severity=severity, rtype=kind, rid=rid,
                           rname=name, project=project, method="POST", path="/v2/security/findings", status=201,
                           trace=trace, tags=T_POSTURE, metadata=b.world.project_metadata[project],
                           description=f"security-scanner found that {kind.replace('_', ' ')} {name} {finding}."))
    return out


RUNS = {
    "deploy": deploy_run, "autoscale": autoscale_run, "backup": backup_run, "billing": billing_run,
    "cost": cost_run, "reaper": reaper_run, "scan": scan_run,
}
# Mean events of a run, for sizing budgets.
RUN_SIZES = {"deploy": 5, "autoscale": 3, "backup": 10, "billing": 3, "cost": 3, "reaper": 4, "scan": 2}
