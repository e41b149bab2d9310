"""Background activity: what people do in a console or CLI session, and what automation runs.

Each operation returns one or more events; events of one operation share a trace id (a server
and its boot volume, an export and the file it writes), events of one console session share
its session id, address and user agent.
"""
from __future__ import annotations

import json

from apps.demo.generator.build import Builder, Session, to_datetime
from apps.demo.generator.world import (
    DATASETS, FLAVORS, PROJECTS, ROLES, SERVER_ROLES, SETTINGS, Person,
)

T_PROVISION = ["provisioning"]
T_NETWORK = ["network", "change-management"]
T_IAM = ["iam", "access-control"]
T_DATA = ["data-access"]
T_EXPORT = ["data-access", "export"]
T_BUDGET = ["budget", "cost"]
T_COST = ["cost"]
T_AUTOMATION = ["automation", "cost-optimization"]
T_BACKUP = ["backup", "automation"]
T_CI = ["terraform", "ci"]
T_POSTURE = ["security", "posture"]
T_SECURITY = ["security"]

IMAGES = ("ubuntu-24.04", "ubuntu-22.04", "debian-12", "rocky-9")
K8S_VERSIONS = ("1.28", "1.29", "1.30")
CIDRS = ("10.0.0.0/8", "10.20.0.0/16", "10.30.0.0/16", "172.16.0.0/12", "192.168.10.0/24")
POLICIES = ("require-mfa-console", "deny-public-buckets", "restrict-regions", "tag-enforcement",
            "encrypt-at-rest", "block-legacy-tls")
FIRST_NAMES = ("alex", "sam", "jordan", "taylor", "morgan", "casey", "robin", "jamie", "drew", "kai")
LAST_NAMES = ("ng", "hughes", "varga", "lindqvist", "osei", "ferreira", "kowalski", "brennan", "sato")


def _place(b: Builder, p: Person) -> tuple[str, str, dict]:
    project = b.choice(p.projects)
    return project, b.choice(PROJECTS[project][2]), b.world.project_metadata[project]


def pause(b: Builder, low_ms: int, high_ms: int) -> int:
    """A random pause between `low_ms` and `high_ms` milliseconds, in microseconds."""
    return int((low_ms + (high_ms - low_ms) * b.random()) * 1000)


# --- operations people do ------------------------------------------------------------------


def server_create(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    flavor, image = b.choice(FLAVORS), b.choice(IMAGES)
    env = project[:4] if project != "data-platform" else "data"
    name = f"{b.choice(SERVER_ROLES)}-{env}-{b.rng.randrange(10, 99)}"
    rid, trace = "srv_" + b.hex(10), b.trace(t)
    first = b.call(s, t, "compute.servers.create", "compute", ("create", "created"),
                   f"server {name} ({flavor}) in {region}", ok=201, method="POST",
                   path=f"/v2/projects/{project}/servers", rtype="server", rid=rid, rname=name, project=project,
                   region=region, tags=T_PROVISION, trace=trace, metadata=meta, why="the project's vCPU quota is exhausted",
                   changes={"before": None, "after": {"flavor": flavor, "image": image, "state": "running"}})
    if first[1]["outcome"] != "success":
        return [first]
    volume = "vol_" + b.hex(10)
    return [first, b.event(s, t + pause(b, 300, 2500), "storage.volume.create", "storage", rtype="volume", rid=volume,
                           rname=f"{name}-boot", project=project, region=region, method="POST",
                           path=f"/v2/projects/{project}/volumes", status=201, trace=trace, tags=T_PROVISION,
                           metadata=meta, description=f"{s.name} created boot volume {name}-boot (50 GB) for server {name}.",
                           changes={"before": None, "after": {"size_gb": 50, "type": "ssd", "attached_to": rid}})]


def server_delete(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, name = b.choice(b.world.resources[project].servers)
    return [b.call(s, t, "compute.servers.delete", "compute", ("delete", "deleted"), f"server {name}",
                   method="DELETE", path=f"/v2/projects/{project}/servers/{rid}", ok=204, rtype="server", rid=rid,
                   rname=name, project=project, region=region, metadata=meta,
                   severity="medium" if project == "prod" else "low", why="it has deletion protection enabled",
                   fail_status=409, changes={"before": {"state": b.choice(("running", "stopped"))}, "after": None})]


def server_restart(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, name = b.choice(b.world.resources[project].servers)
    return [b.call(s, t, "compute.servers.restart", "compute", ("restart", "restarted"), f"server {name}",
                   method="POST", path=f"/v2/projects/{project}/servers/{rid}/actions/restart", ok=202,
                   rtype="server", rid=rid, rname=name, project=project, region=region, metadata=meta,
                   why="the server is being migrated", fail_status=409)]


def vps_scale(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, name, plan = b.choice(b.world.resources[project].vps)
    index = FLAVORS.index(plan)
    up = index == 0 or b.random() < 0.65
    new = FLAVORS[min(index + 1 + (b.random() < 0.3), len(FLAVORS) - 1)] if up else FLAVORS[index - 1]
    direction = "up" if up else "down"
    return [b.call(s, t, f"vps.scale.{direction}", "compute", (f"scale {direction}", f"scaled {direction}"),
                   f"{name} from {plan} to {new}", method="PATCH", path=f"/v2/projects/{project}/vps/{rid}",
                   rtype="vps", rid=rid, rname=name, project=project, region=region,
                   metadata={**meta, "previous_spec": plan, "new_spec": new},
                   changes={"before": {"plan": plan}, "after": {"plan": new}}, why="the plan is not offered in this region")]


def cluster_update(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, name = b.choice(b.world.resources[project].clusters)
    if b.random() < 0.5:
        nodes = b.rng.randrange(3, 12)
        change = {"before": {"node_count": nodes}, "after": {"node_count": nodes + b.choice((-2, -1, 1, 2, 3))}}
        what = f"the node count of cluster {name}"
    else:
        old = b.choice(K8S_VERSIONS[:2])
        change = {"before": {"version": old}, "after": {"version": K8S_VERSIONS[K8S_VERSIONS.index(old) + 1]}}
        what = f"cluster {name} to Kubernetes {change['after']['version']}"
    return [b.call(s, t, "k8s.cluster.update", "compute", ("update", "updated"), what, method="PATCH",
                   path=f"/v2/projects/{project}/clusters/{rid}", rtype="k8s_cluster", rid=rid, rname=name,
                   project=project, region=region, metadata=meta, changes=change,
                   severity="low", why="another update is in progress", fail_status=409)]


def cluster_create(b: Builder, s: Session, t: int, p: Person):
    project = b.choice(("dev", "staging", "data-platform"))
    region, meta = b.choice(PROJECTS[project][2]), b.world.project_metadata[project]
    name, version = f"k8s-{project}-{b.hex(4)}", K8S_VERSIONS[-1]
    return [b.call(s, t, "k8s.cluster.create", "compute", ("create", "created"), f"cluster {name} in {region}",
                   ok=201, method="POST", path=f"/v2/projects/{project}/clusters", rtype="k8s_cluster",
                   rid="cls_" + b.hex(8), rname=name, project=project, region=region, tags=T_PROVISION, metadata=meta,
                   changes={"before": None, "after": {"version": version, "node_count": 3}},
                   why="the cluster quota is exhausted")]


def cluster_delete(b: Builder, s: Session, t: int, p: Person):
    project = b.choice(("dev", "staging"))
    rid, name = b.choice(b.world.resources[project].clusters)
    region, meta = b.choice(PROJECTS[project][2]), b.world.project_metadata[project]
    return [b.call(s, t, "k8s.cluster.delete", "compute", ("delete", "deleted"), f"cluster {name}", ok=202,
                   method="DELETE", path=f"/v2/projects/{project}/clusters/{rid}", rtype="k8s_cluster", rid=rid,
                   rname=name, project=project, region=region, severity="high", metadata=meta,
                   changes={"before": {"state": "running"}, "after": {"state": "deleting"}},
                   why="workloads are still running on it", fail_status=409)]


def firewall_update(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, name, port, _ = b.choice([r for r in b.world.resources[project].firewall_rules if r[2] != 443])
    before, after = b.rng.sample(CIDRS, 2)
    trace = b.trace(t)
    return [b.call(s, t, "firewall.rule.update", "network", ("update", "updated"),
                   f"firewall rule {name} to allow port {port} from {after}", method="PATCH",
                   path=f"/v2/projects/{project}/firewall-rules/{rid}", rtype="firewall_rule", rid=rid, rname=name,
                   project=project, region=region, severity="medium", tags=T_NETWORK, trace=trace, metadata=meta,
                   changes={"before": {"cidr": before, "port": port, "protocol": "tcp"},
                            "after": {"cidr": after, "port": port, "protocol": "tcp"}})]


def security_group_update(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, name = b.choice(b.world.resources[project].security_groups)
    rules = b.rng.randrange(3, 14)
    return [b.call(s, t, "network.security_group.update", "network", ("update", "updated"),
                   f"security group {name}", method="PATCH", path=f"/v2/projects/{project}/security-groups/{rid}",
                   rtype="security_group", rid=rid, rname=name, project=project, region=region, severity="medium",
                   tags=T_NETWORK, metadata=meta,
                   changes={"before": {"ingress_rules": rules}, "after": {"ingress_rules": rules + b.choice((-1, 1, 2))}})]


def bucket_create(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    name = f"acme-{project}-{b.choice(('scratch', 'reports', 'ml-features', 'tmp', 'ingest'))}-{b.hex(4)}"
    return [b.call(s, t, "storage.bucket.create", "storage", ("create", "created"), f"bucket {name} in {region}",
                   ok=201, method="POST", path=f"/v2/projects/{project}/buckets", rtype="bucket",
                   rid="bkt_" + b.hex(10), rname=name, project=project, region=region, tags=T_PROVISION, metadata=meta,
                   changes={"before": None, "after": {"versioning": True, "encryption": "AES256", "public_access": False}},
                   why="the name is already taken", fail_status=409)]


def bucket_delete(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    name = f"acme-{project}-{b.choice(('scratch', 'tmp', 'old-exports'))}-{b.hex(4)}"
    return [b.call(s, t, "storage.bucket.delete", "storage", ("delete", "deleted"), f"bucket {name}", ok=204,
                   method="DELETE", path=f"/v2/projects/{project}/buckets/{name}", rtype="bucket",
                   rid="bkt_" + b.hex(10), rname=name, project=project, region=region, severity="medium",
                   metadata=meta, changes={"before": {"objects": b.rng.randrange(0, 400)}, "after": None},
                   why="the bucket is not empty", fail_status=409)]


def _object_key(b: Builder, t: int) -> str:
    # Keys are partitioned by date, as data lakes and log shippers write them.
    day = to_datetime(t).date().isoformat()
    kind = int(b.random() * 5)
    if kind == 0:
        return f"reports/{day}/daily-{b.hex(6)}.parquet"
    if kind == 1:
        return f"exports/{day}/{b.hex(8)}.csv.gz"
    if kind == 2:
        return f"logs/app/{day}/part-{b.rng.randrange(0, 999):04d}.jsonl.gz"
    if kind == 3:
        return f"models/churn/v{b.rng.randrange(1, 30)}/model.onnx"
    return f"assets/img/{day[:7]}/{b.hex(10)}.webp"


def object_read(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, bucket = b.choice(b.world.resources[project].buckets)
    trace, out = b.trace(t), []
    for n in range(b.choice((1, 1, 1, 2, 3))):
        key = _object_key(b, t)
        out.append(b.call(s, t + n * pause(b, 50, 900), "storage.object.read", "storage", ("read", "read"),
                          f"{key} from bucket {bucket}", method="GET",
                          path=f"/v2/projects/{project}/buckets/{bucket}/objects/{key}", rtype="object",
                          rid=f"{rid}/{key}", rname=key, project=project, region=region, trace=trace, tags=T_DATA,
                          metadata=meta, deny=0.015, fail=0.004, why="the object does not exist", fail_status=404))
    return out


def object_write(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    rid, bucket = b.choice(b.world.resources[project].buckets)
    key = _object_key(b, t)
    return [b.call(s, t, "storage.object.write", "storage", ("write", "wrote"), f"{key} to bucket {bucket}",
                   ok=201, method="PUT", path=f"/v2/projects/{project}/buckets/{bucket}/objects/{key}",
                   rtype="object", rid=f"{rid}/{key}", rname=key, project=project, region=region, tags=T_DATA,
                   metadata=meta)]


def settings_update(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    key = b.choice(tuple(SETTINGS))
    before, after = b.rng.sample(SETTINGS[key], 2)
    return [b.call(s, t, "config.settings.update", "config", ("change", "changed"),
                   f"{key} from {json.dumps(before)} to {json.dumps(after)} in project {project}", method="PATCH",
                   path=f"/v2/projects/{project}/settings", rtype="settings", rid=f"settings/{project}", rname=key,
                   project=project, severity="low" if project == "dev" else "medium", metadata=meta,
                   changes={"before": {key: before}, "after": {key: after}})]


def token_create(b: Builder, s: Session, t: int, p: Person):
    project, _, meta = _place(b, p)
    name = f"{p.first_name.lower()}-{b.choice(('ci', 'laptop', 'grafana', 'scripts', 'terraform'))}"
    scopes = b.choice((["read"], ["read", "write"], ["compute:write"], ["storage:read"]))
    return [b.call(s, t, "iam.token.create", "iam", ("create", "created"), f"API token {name} for project {project}",
                   ok=201, method="POST", path="/v2/iam/tokens", rtype="api_token", rid="tok_" + b.hex(12), rname=name,
                   project=project, severity="low", tags=T_IAM, metadata=meta,
                   changes={"before": None, "after": {"scopes": scopes, "expires_in_days": b.choice((30, 90, 365))}})]


def token_revoke(b: Builder, s: Session, t: int, p: Person):
    project, _, meta = _place(b, p)
    rid, name = "tok_" + b.hex(12), f"{b.choice(FIRST_NAMES)}-{b.choice(('ci', 'laptop', 'scripts'))}"
    return [b.call(s, t, "iam.token.revoke", "iam", ("revoke", "revoked"), f"API token {name}", method="DELETE",
                   path=f"/v2/iam/tokens/{rid}", rtype="api_token", rid=rid, rname=name, project=project,
                   severity="low", tags=T_IAM, metadata=meta,
                   changes={"before": {"status": "active"}, "after": {"status": "revoked"}})]


def role_update(b: Builder, s: Session, t: int, p: Person):
    target = b.choice([q for q in b.world.people if q is not p])
    project = b.choice(("prod", "staging", "billing", "data-platform"))
    new = b.choice([role for role in ROLES if role != target.role and (role != "admin" or b.random() < 0.2)])
    return [b.call(s, t, "iam.role.update", "iam", ("change", "changed"),
                   f"the role of {target.email} in project {project} from {target.role} to {new}", method="PUT",
                   path=f"/v2/projects/{project}/members/{target.id}/roles", rtype="user", rid=target.id,
                   rname=target.email, project=project, severity="high" if new == "admin" else "medium", tags=T_IAM,
                   metadata=b.world.project_metadata[project],
                   changes={"before": {"roles": [target.role]}, "after": {"roles": [new]}})]


def user_create(b: Builder, s: Session, t: int, p: Person):
    email = f"{b.choice(FIRST_NAMES)}.{b.choice(LAST_NAMES)}@example.com"
    role = b.choice(("viewer", "developer", "developer", "analyst"))
    return [b.call(s, t, "iam.user.create", "iam", ("create", "created"), f"user {email} with role {role}", ok=201,
                   method="POST", path="/v2/iam/users", rtype="user", rid="usr_" + b.hex(8), rname=email,
                   severity="medium", tags=T_IAM, changes={"before": None, "after": {"email": email, "roles": [role]}},
                   why="a user with that email already exists", fail_status=409)]


def user_disable(b: Builder, s: Session, t: int, p: Person):
    email = f"{b.choice(FIRST_NAMES)}.{b.choice(LAST_NAMES)}@example.com"
    return [b.call(s, t, "iam.user.delete", "iam", ("delete", "deleted"), f"user {email}", ok=204,
                   method="DELETE", path=f"/v2/iam/users/{email}", rtype="user", rid="usr_" + b.hex(8), rname=email,
                   severity="medium", tags=T_IAM, changes={"before": {"status": "active"}, "after": None})]


def policy_modify(b: Builder, s: Session, t: int, p: Person):
    project = b.choice(("prod", "staging", "data-platform"))
    name = b.choice(POLICIES)
    before, after = b.rng.sample(("audit", "enforce", "disabled"), 2)
    return [b.call(s, t, "policy.modify", "authz", ("change", "changed"),
                   f"policy {name} in project {project} from {before} to {after} mode", method="PATCH",
                   path=f"/v2/projects/{project}/policies/{name}", rtype="policy", rid=f"pol_{name}", rname=name,
                   project=project, severity="high" if after == "disabled" else "medium", tags=T_SECURITY,
                   metadata=b.world.project_metadata[project],
                   changes={"before": {"mode": before}, "after": {"mode": after}})]


def data_export(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    dataset, fmt = b.choice(DATASETS), b.choice(("csv", "parquet", "jsonl"))
    rows, trace = b.rng.randrange(1_000, 2_500_000), b.trace(t)
    export = b.call(s, t, "data.export", "data", ("export", "exported"), f"{rows:,} rows of {dataset} as {fmt}",
                    ok=202, method="POST", path=f"/v2/projects/{project}/exports", rtype="dataset",
                    rid=f"ds_{dataset}", rname=dataset, project=project, region=region, severity="medium",
                    tags=T_EXPORT, trace=trace, metadata={**meta, "format": fmt, "rows": rows})
    if export[1]["outcome"] != "success":
        return [export]
    key = f"exports/{to_datetime(t).date().isoformat()}/{dataset}-{b.hex(8)}.{fmt}"
    bucket_id, bucket = b.world.resources[project].buckets[3]
    return [export, b.event(s, t + pause(b, 2000, 40000), "storage.object.write", "storage", rtype="object",
                            rid=f"{bucket_id}/{key}", rname=key, project=project, region=region, method="PUT",
                            path=f"/v2/projects/{project}/buckets/{bucket}/objects/{key}", status=201, trace=trace,
                            tags=T_EXPORT, metadata=meta,
                            description=f"{s.name}'s export of {dataset} wrote {key} to bucket {bucket}.")]


def data_query(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    dataset = b.choice(DATASETS)
    return [b.call(s, t, "data.query.run", "data", ("query", "queried"), f"the {dataset} dataset", method="POST",
                   path=f"/v2/projects/{project}/queries", rtype="dataset", rid=f"ds_{dataset}", rname=dataset,
                   project=project, region=region, tags=T_DATA, why="the query timed out after 300 seconds",
                   fail_status=408, metadata={**meta, "rows_scanned": b.rng.randrange(100, 90_000_000)})]


def budget_update(b: Builder, s: Session, t: int, p: Person):
    project = b.choice(tuple(PROJECTS))
    rid, name, limit = b.world.resources[project].budgets[0]
    new = int(limit * b.choice((0.8, 1.1, 1.25, 1.5)))
    return [b.call(s, t, "billing.budget.update", "billing", ("change", "changed"),
                   f"budget {name} from ${limit:,} to ${new:,} a month", method="PATCH",
                   path=f"/v2/billing/budgets/{rid}", rtype="budget", rid=rid, rname=name, project=project,
                   severity="low", tags=T_BUDGET, metadata=b.world.project_metadata[project],
                   changes={"before": {"monthly_limit_usd": limit, "alert_threshold_pct": 80},
                            "after": {"monthly_limit_usd": new, "alert_threshold_pct": b.choice((80, 90))}})]


def invoice_download(b: Builder, s: Session, t: int, p: Person):
    invoice = f"INV-2026-{b.rng.randrange(1, 6):02d}-{b.rng.randrange(1000, 9999)}"
    return [b.call(s, t, "billing.invoice.download", "billing", ("download", "downloaded"), f"invoice {invoice}",
                   method="GET", path=f"/v2/billing/invoices/{invoice}/pdf", rtype="invoice", rid=invoice,
                   rname=invoice, project="billing", tags=T_COST, metadata=b.world.project_metadata["billing"])]


def cost_report(b: Builder, s: Session, t: int, p: Person):
    group = b.choice(("project", "service", "region", "team"))
    return [b.call(s, t, "billing.report.generate", "billing", ("generate", "generated"),
                   f"a cost report grouped by {group}", ok=202, method="POST", path="/v2/billing/reports",
                   rtype="cost_report", rid="rpt_" + b.hex(8), rname=f"cost-by-{group}", project="billing",
                   tags=T_COST, metadata=b.world.project_metadata["billing"])]


def resource_delete(b: Builder, s: Session, t: int, p: Person):
    project, region, meta = _place(b, p)
    kind = b.choice(("volume", "snapshot", "floating_ip"))
    rid = f"{kind[:4]}_{b.hex(10)}"
    return [b.call(s, t, "resource.delete", "storage" if kind != "floating_ip" else "network", ("delete", "deleted"),
                   f"unused {kind.replace('_', ' ')} {rid}", ok=204, method="DELETE",
                   path=f"/v2/projects/{project}/{kind}s/{rid}", rtype=kind, rid=rid, rname=rid, project=project,
                   region=region, severity="medium", metadata=meta,
                   changes={"before": {"state": "available"}, "after": None})]


OPERATIONS = {
    "server_create": server_create, "server_delete": server_delete, "server_restart": server_restart,
    "vps_scale": vps_scale, "cluster_update": cluster_update, "cluster_create": cluster_create,
    "cluster_delete": cluster_delete, "firewall_update": firewall_update,
    "security_group_update": security_group_update, "bucket_create": bucket_create,
    "bucket_delete": bucket_delete, "object_read": object_read, "object_write": object_write,
    "settings_update": settings_update, "token_create": token_create, "token_revoke": token_revoke,
    "role_update": role_update, "user_create": user_create, "user_disable": user_disable,
    "policy_modify": policy_modify, "data_export": data_export, "data_query": data_query,
    "budget_update": budget_update, "invoice_download": invoice_download, "cost_report": cost_report,
    "resource_delete": resource_delete,
}
