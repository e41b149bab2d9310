"""The demo organisation: its people, services, projects, regions and resources.

Everything here is built once per seed from fixed lists, so the same seed gives the same
people with the same ids, addresses and habits. Addresses come from the documentation ranges
(RFC 5737, RFC 3849) and private ranges, so no demo event names a real host.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

DOMAIN = "example.com"

# name, team, time zone. The team decides what a person does and in which projects.
ROSTER = (
    ("Priya Natarajan", "platform", "Asia/Kolkata"),
    ("Marcus Reed", "developer", "America/Chicago"),
    ("Dana Whitfield", "finance", "America/New_York"),
    ("Jonas Becker", "admin", "Europe/Berlin"),
    ("Aisha Okafor", "security", "Europe/London"),
    ("Tomasz Nowak", "platform", "Europe/Warsaw"),
    ("Emily Chen", "developer", "America/Los_Angeles"),
    ("Rahul Mehta", "data", "Asia/Kolkata"),
    ("Sofia Rossi", "developer", "Europe/Berlin"),
    ("Kenji Watanabe", "platform", "Asia/Singapore"),
    ("Grace Kim", "security", "America/Los_Angeles"),
    ("Liam O'Connor", "developer", "Europe/London"),
    ("Olivia Martins", "data", "America/Sao_Paulo"),
    ("Noah Fischer", "developer", "Europe/Berlin"),
    ("Hannah Schmidt", "admin", "Europe/Berlin"),
    ("Carlos Mendoza", "developer", "America/Chicago"),
    ("Zoe Williams", "finance", "America/New_York"),
    ("Arjun Iyer", "developer", "Asia/Kolkata"),
    ("Mia Johansson", "platform", "Europe/Berlin"),
    ("Ethan Brooks", "support", "America/New_York"),
    ("Fatima Haddad", "data", "Europe/London"),
    ("Lucas Moreau", "developer", "Europe/Berlin"),
    ("Chloe Dubois", "security", "Europe/Berlin"),
    ("Daniel Park", "developer", "America/Los_Angeles"),
    ("Isabella Garcia", "support", "America/Chicago"),
    ("Oliver Smith", "platform", "Australia/Sydney"),
    ("Ananya Rao", "developer", "Asia/Kolkata"),
    ("Samuel Adeyemi", "data", "Europe/London"),
    ("Nina Petrova", "developer", "Europe/Warsaw"),
    ("Ben Carter", "finance", "America/New_York"),
    ("Yuki Tanaka", "developer", "Asia/Singapore"),
    ("Leah Cohen", "admin", "America/New_York"),
    ("Mateo Silva", "developer", "America/Sao_Paulo"),
    ("Ava Thompson", "platform", "America/Los_Angeles"),
    ("Ravi Shankar", "developer", "Asia/Kolkata"),
    ("Elena Popescu", "support", "Europe/Warsaw"),
)

# Offices: egress address and place, by the time zones their staff live in.
OFFICES = {
    "America/New_York": ("198.51.100.10", "US", "New York"),
    "America/Chicago": ("198.51.100.11", "US", "Chicago"),
    "America/Los_Angeles": ("198.51.100.12", "US", "San Francisco"),
    "America/Sao_Paulo": ("198.51.100.13", "BR", "São Paulo"),
    "Europe/London": ("198.51.100.40", "GB", "London"),
    "Europe/Berlin": ("198.51.100.41", "DE", "Berlin"),
    "Europe/Warsaw": ("198.51.100.42", "PL", "Warsaw"),
    "Asia/Kolkata": ("198.51.100.70", "IN", "Bengaluru"),
    "Asia/Singapore": ("198.51.100.71", "SG", "Singapore"),
    "Australia/Sydney": ("198.51.100.72", "AU", "Sydney"),
}
VPN_EGRESS = "198.51.100.200"
VPN_GEO = {"geo": {"country": "US", "city": "Ashburn"}, "network": "corporate-vpn"}

BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 "
    "Edg/124.0.2478.67",
)
CLIS = (
    "acme-cli/3.7.2 (darwin; arm64) python/3.12.3",
    "acme-cli/3.7.2 (linux; amd64) python/3.11.9",
    "acme-cli/3.6.0 (windows; amd64) python/3.11.4",
)

# What each team does, as weighted background operations (see catalogue.OPERATIONS).
TEAM_WORK = {
    "platform": {
        "server_create": 6, "server_delete": 3, "server_restart": 4, "vps_scale": 4, "cluster_update": 3,
        "cluster_create": 1, "cluster_delete": 1, "firewall_update": 3, "security_group_update": 3,
        "bucket_create": 1, "bucket_delete": 1, "object_read": 3, "settings_update": 1, "token_create": 1,
    },
    "developer": {
        "server_create": 3, "server_restart": 4, "server_delete": 1, "object_read": 8, "object_write": 4,
        "cluster_update": 2, "token_create": 1, "token_revoke": 1, "settings_update": 1, "data_query": 2,
    },
    "security": {
        "role_update": 3, "user_create": 1, "user_disable": 1, "policy_modify": 3, "firewall_update": 2,
        "token_revoke": 2, "object_read": 2, "data_export": 1, "security_group_update": 1,
    },
    "data": {"data_export": 3, "data_query": 8, "object_read": 8, "object_write": 3, "bucket_create": 1},
    "finance": {"budget_update": 4, "invoice_download": 4, "cost_report": 4, "data_export": 1, "object_read": 1},
    "admin": {
        "user_create": 3, "user_disable": 1, "role_update": 4, "settings_update": 3, "policy_modify": 2,
        "token_revoke": 1, "budget_update": 1, "resource_delete": 1,
    },
    "support": {"object_read": 5, "data_query": 3, "server_restart": 1},
}
TEAM_PROJECTS = {
    "platform": ("prod", "prod", "staging", "dev", "data-platform"),
    "developer": ("staging", "staging", "dev", "dev", "prod"),
    "security": ("prod", "security-tools", "staging"),
    "data": ("data-platform", "data-platform", "prod"),
    "finance": ("billing",),
    "admin": ("prod", "billing", "staging", "security-tools"),
    "support": ("prod",),
}
# Roles in the organisation, as granted by iam.role.update.
TEAM_ROLES = {
    "platform": "operator", "developer": "developer", "security": "security-auditor", "data": "analyst",
    "finance": "billing-admin", "admin": "admin", "support": "viewer",
}
ROLES = ("viewer", "developer", "analyst", "operator", "billing-admin", "security-auditor", "admin")

PROJECTS = {
    # project: (Environment tag, account id, regions)
    "prod": ("production", "482915370164", ("us-east-1", "eu-central-1", "ap-southeast-1")),
    "staging": ("staging", "482915370277", ("us-east-1", "eu-central-1")),
    "dev": ("development", "482915370391", ("us-west-2",)),
    "billing": ("production", "482915370405", ("us-east-1",)),
    "data-platform": ("production", "482915370518", ("eu-west-1", "us-east-1")),
    "security-tools": ("production", "482915370622", ("us-east-1",)),
}
SERVER_ROLES = ("web", "api", "worker", "db", "cache", "batch", "ingest", "search")
FLAVORS = ("standard-2", "standard-4", "standard-8", "performance-4", "performance-8", "memory-16")
BUCKET_PURPOSES = ("logs", "backups", "assets", "exports", "raw", "curated", "artifacts")
DATASETS = ("customers", "orders", "invoices", "usage_events", "support_tickets", "payments", "web_sessions")
SETTINGS = {
    # key: a few values it moves between
    "session_timeout_minutes": (15, 30, 60, 120),
    "mfa_required": (True, False),
    "password_min_length": (12, 14, 16),
    "audit_retention_days": (90, 365, 400),
    "default_region": ("us-east-1", "eu-central-1"),
    "sso_enforced": (True, False),
    "api_rate_limit_per_minute": (600, 1200, 3000),
}
PORTS = ((443, "https"), (80, "http"), (5432, "postgres"), (6379, "redis"), (22, "ssh"), (9200, "elasticsearch"))


@dataclass
class Person:
    id: str
    name: str
    email: str
    team: str
    tz: ZoneInfo
    auth_method: str          # how they sign in to the console: saml, oidc or password
    uses_mfa: bool
    # Where they work from: (address, metadata naming the place), shared by their sign-ins.
    office: tuple[str, dict]
    home: tuple[str, dict]
    vpn: tuple[str, dict]
    browser: str
    cli: str
    projects: tuple[str, ...]
    work: list[str]           # operation names repeated by weight: a bag to draw from
    activity: float           # relative number of sessions
    role: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass
class Service:
    id: str
    name: str
    actor_type: str           # service or system
    auth_method: str          # token or system
    ip: str
    user_agent: str
    activity: float
    runs: str                 # the run function in catalogue.RUNS


@dataclass
class Resources:
    """Named things in one project that background events act on, so ids repeat."""

    servers: list[tuple[str, str]] = field(default_factory=list)
    vps: list[tuple[str, str, str]] = field(default_factory=list)        # id, name, plan
    buckets: list[tuple[str, str]] = field(default_factory=list)
    clusters: list[tuple[str, str]] = field(default_factory=list)
    security_groups: list[tuple[str, str]] = field(default_factory=list)
    firewall_rules: list[tuple[str, str, int, str]] = field(default_factory=list)  # id, name, port, cidr
    budgets: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass
class World:
    people: list[Person]
    services: list[Service]
    resources: dict[str, Resources]
    # Project → {"api_version", "resource": {"account_id", "tags": {"Environment"}}}; shared by
    # the events of that project, never mutated.
    project_metadata: dict[str, dict]

    def person(self, team: str, rng: random.Random, *, besides: tuple[Person, ...] = ()) -> Person:
        return rng.choice([p for p in self.people if p.team == team and p not in besides])


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def build_world(rng: random.Random) -> World:
    people = []
    homes = rng.sample(range(2, 250), len(ROSTER))
    for index, (name, team, tz) in enumerate(ROSTER):
        first, last = name.lower().replace("'", "").split(" ", 1)
        if index % 9 == 4:
            home = f"2001:db8:{rng.randrange(0x1000, 0xffff):x}::{rng.randrange(2, 0xfff):x}"
        else:
            home = f"203.0.113.{homes[index]}"
        office_ip, country, city = OFFICES[tz]
        geo = {"geo": {"country": country, "city": city}}
        auth_method = rng.choice(("saml", "saml", "oidc", "password"))
        work = [op for op, weight in TEAM_WORK[team].items() for _ in range(weight)]
        people.append(Person(
            id="usr_" + _hex(rng, 8),
            name=name,
            email=f"{first}.{last.replace(' ', '')}@{DOMAIN}",
            team=team,
            tz=ZoneInfo(tz),
            auth_method=auth_method,
            uses_mfa=auth_method == "password" or rng.random() < 0.4,
            office=(office_ip, geo),
            home=(home, geo),
            vpn=(VPN_EGRESS, VPN_GEO),
            browser=rng.choice(BROWSERS),
            cli=rng.choice(CLIS),
            projects=TEAM_PROJECTS[team],
            work=work,
            activity=rng.uniform(0.4, 1.6) * (1.5 if team in ("developer", "platform") else 1.0),
            role=TEAM_ROLES[team],
        ))

    services = [
        Service("svc_" + _hex(rng, 8), "terraform-ci", "service", "token", "10.20.0.15",
                "Terraform/1.8.5 (+https://www.terraform.io) terraform-provider-acme/4.1.0", 5.0, "deploy"),
        Service("svc_" + _hex(rng, 8), "autoscaler", "service", "token", "10.20.0.31",
                "acme-autoscaler/2.3.0 (+kubernetes)", 6.0, "autoscale"),
        Service("svc_" + _hex(rng, 8), "backup-agent", "service", "token", "10.20.0.44",
                "acme-backup/1.12.4", 3.0, "backup"),
        Service("svc_" + _hex(rng, 8), "billing-sync", "service", "token", "10.20.0.52",
                "acme-billing-sync/0.9.7", 1.5, "billing"),
        Service("sys_cost_optimizer", "cost-optimizer", "system", "system", "10.20.0.60",
                "acme-cost-optimizer/1.4.0", 2.0, "cost"),
        Service("sys_session_reaper", "session-reaper", "system", "system", "10.20.0.61",
                "acme-identity/5.2.1", 2.0, "reaper"),
        Service("svc_" + _hex(rng, 8), "security-scanner", "service", "token", "10.20.0.77",
                "acme-posture-scanner/3.0.2", 1.5, "scan"),
    ]

    resources = {}
    project_metadata = {}
    counts = {"prod": 60, "staging": 30, "dev": 20, "data-platform": 25, "billing": 4, "security-tools": 6}
    for project, (environment, account, regions) in PROJECTS.items():
        env_short = {"production": "prod", "staging": "stg", "development": "dev"}[environment]
        r = Resources()
        for n in range(counts[project]):
            r.servers.append(("srv_" + _hex(rng, 10), f"{rng.choice(SERVER_ROLES)}-{env_short}-{n + 1:02d}"))
        for n in range(max(3, counts[project] // 5)):
            r.vps.append(("vps_" + _hex(rng, 8), f"vps-{project}-{n + 1:02d}", rng.choice(FLAVORS[:3])))
        for purpose in BUCKET_PURPOSES:
            r.buckets.append(("bkt_" + _hex(rng, 10), f"acme-{project}-{purpose}"))
        for region in regions:
            r.clusters.append(("cls_" + _hex(rng, 8), f"k8s-{project}-{region.split('-')[0]}-{region.split('-')[1]}"))
        for tier in ("web", "app", "db", "bastion"):
            r.security_groups.append(("sg-" + _hex(rng, 17), f"sg-{tier}-{project}"))
        for port, name in PORTS:
            cidr = "10.0.0.0/8" if port != 443 else "0.0.0.0/0"
            r.firewall_rules.append(("fwr_" + _hex(rng, 8), f"allow-{name}-{project}", port, cidr))
        r.budgets.append(("bgt_" + _hex(rng, 8), f"{project}-monthly", rng.choice((2000, 5000, 12000, 40000))))
        resources[project] = r
        project_metadata[project] = {
            "api_version": "v2",
            "resource": {"account_id": account, "tags": {"Environment": environment}},
        }
    return World(people, services, resources, project_metadata)
