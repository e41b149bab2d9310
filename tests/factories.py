"""Builders the tests share: a JSON API client with a bearer token, role assignment without the
audit trail, the seeds' example events, events for the chain's tests, and the superuser's and the
shell's view of the chain. Test modules import these from here, never from one another."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import Client
from psycopg import sql as psycopg_sql

from apps.events.db_roles import connection_close
from apps.events.models import Event
from apps.rbac.models import Role, RoleAssignment


class ApiClient:
    """A Django test client that sends JSON with a bearer token."""

    def __init__(self, secret: str | None = None) -> None:
        self.client = Client()
        self.secret = secret

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        headers.update(extra or {})
        return headers

    def post(self, path: str, body=None, *, raw: bytes | str | None = None,
             content_type: str = "application/json", headers: dict | None = None):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data=data, content_type=content_type, headers=self._headers(headers))

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))


def give_role(user, slug: str, **limits) -> RoleAssignment:
    """Assign a role directly, without the audit trail (setting up a test is not a change to record)."""
    return RoleAssignment.objects.create(user=user, role=Role.objects.get(slug=slug), **limits)


# The seeds' example events, as written in /work/shared/seeds/.
SEED_000 = {
    "eventId": "evt_9f8e7d6c5b4a3210",
    "timestamp": "2025-10-12T14:32:08.442Z",
    "actor": {"type": "user", "id": "usr_a1b2c3d4", "email": "admin@cloudnexus.io"},
    "action": "vps.scale.up",
    "resource": {"type": "vps", "id": "vps_7x8y9z0w", "region": "us-east-1"},
    "metadata": {"previousSpec": "standard-2", "newSpec": "performance-4", "ipAddress": "203.0.113.42"},
    "status": "success",
    "severity": "info",
}

SEED_001 = {
    "event_id": "evt_2026031012345678",
    "timestamp": "2026-03-10T14:30:45.123Z",
    "event_type": "resource.modify",
    "severity": "info",
    "actor": {
        "type": "user",
        "id": "user_12345",
        "email": "admin@company.com",
        "ip_address": "203.0.113.45",
        "user_agent": "Mozilla/5.0...",
        "session_id": "sess_abcdef123456",
    },
    "resource": {
        "type": "ec2_instance",
        "id": "i-0123456789abcdef",
        "cloud_provider": "aws",
        "account_id": "123456789012",
        "region": "us-east-1",
    },
    "action": {"operation": "stop_instance", "status": "success", "method": "api"},
    "changes": {"before": {"state": "running"}, "after": {"state": "stopped"}},
    "metadata": {"request_id": "req_xyz789", "api_version": "v2", "tags": ["automation", "cost-optimization"]},
}

SEED_003 = {
    "id": "audit-123",
    "timestamp": "2025-01-15T10:30:00Z",
    "event_type": "discovery.scan.completed",
    "actor": {"type": "user", "id": "user-456", "name": "admin@company.com"},
    "resource": {"type": "scan", "id": "scan-789"},
    "description": "Discovery scan completed successfully",
    "details": {"mode": "full", "duration_seconds": 45, "vaults_scanned": 12, "secrets_found": 234},
    "severity": "info",
    "ip_address": "192.0.2.50",
    "user_agent": "Mozilla/5.0...",
}

SEED_004 = {
    "event_id": "evt_001",
    "timestamp": "2024-01-15T10:30:00.123Z",
    "event_type": "authentication",
    "action": "user_login",
    "status": "failed",
    "severity": "medium",
    "actor": {"user_id": "user-alice-001", "email": "alice@company.com", "ip_address": "203.0.113.42"},
    "details": {"auth_method": "password", "failure_reason": "invalid_password", "attempts_count": 3},
}


def make_events(count: int, prefix: str = "evt", **extra) -> list[dict]:
    return [
        {
            "event_id": f"{prefix}-{index}",
            "timestamp": f"2026-03-10T14:{index // 60 % 60:02d}:{index % 60:02d}.{index:06d}Z",
            "action": "iam.role.update",
            "actor": {"type": "user", "id": f"user-{index}", "email": f"user{index}@example.com"},
            "resource": {"type": "role", "id": f"role-{index % 3}"},
            "outcome": "success",
            "ip_address": "203.0.113.7",
            "project": "alpha",
            "tags": ["prod", "pci"],
            "changes": {"before": {"role": "viewer"}, "after": {"role": "admin"}},
            "metadata": {"ticket": f"CHG-{index}", "nested": {"ok": True, "n": [1, 2, 3]}},
            **extra,
        }
        for index in range(1, count + 1)
    ]


def stored_seqs() -> list[int]:
    return list(Event.objects.order_by("seq").values_list("seq", flat=True))


@contextmanager
def as_owner() -> Iterator:
    """A cursor of the test's own connection acting as the owner of the tables (the tests run as
    the console's role, tests/conftest.py): to tamper as only an owner or a superuser could,
    in the test's own transaction. The console's role is taken again afterwards."""
    role = settings.CONSOLE_DB_ROLE
    with connection.cursor() as cursor:
        if role:
            cursor.execute("SET ROLE NONE")  # the session's login, the owner
        try:
            yield cursor
        finally:
            if role and not connection.needs_rollback:
                try:
                    cursor.execute(psycopg_sql.SQL("SET ROLE {}").format(psycopg_sql.Identifier(role)))
                except DatabaseError:
                    pass  # an aborted transaction: its rollback takes the role back


@contextmanager
def owner_login() -> Iterator[None]:
    """Every connection of the block (the test's, and those of threads it starts) acts as the
    owner: for set-up work only the owner may do, such as a demo bulk load's index rebuild."""
    role = settings.CONSOLE_DB_ROLE
    if not role:
        yield
        return
    if connection.in_atomic_block:  # one connection, in the test's transaction
        with as_owner():
            yield
        return
    options = connection.settings_dict["OPTIONS"]
    before = options.get("options")
    connection_close(connection)
    options["options"] = (before or "").replace(f"-c role={role}", "").strip() or None
    if options["options"] is None:
        del options["options"]
    try:
        yield
    finally:
        connection_close(connection)
        if before is not None:
            options["options"] = before


def served_database_url(**query: str) -> str:
    """DATABASE_URL for a console process a test starts on the test database, logged in as the
    console's own role, the way `make run` serves it."""
    db = connection.settings_dict
    user = settings.CONSOLE_DB_ROLE or db["USER"] or "postgres"
    password = settings.CONSOLE_DB_PASSWORD if settings.CONSOLE_DB_ROLE else db.get("PASSWORD")
    login = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    url = f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return url + ("?" + urlencode(query) if query else "")


def as_superuser(*statements: tuple[str, list] | str) -> None:
    """Change audit_event the way only its owner or a superuser can: with its triggers off."""
    with as_owner() as cursor:
        cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER ALL")
        for statement in statements:
            sql, params = (statement, None) if isinstance(statement, str) else statement
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER ALL")


def run_verify_chain(*args: str) -> tuple[int, str, str]:
    """`manage.py verify_chain` as a shell would see it: (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_chain", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# Text that is hostile in every output format (CSV formulas, CEF/LEEF/syslog delimiters, HTML, CRLF).
HOSTILE = "a\r\nb|c=d]e\"f\\g <script>alert(1)</script> =cmd|' /C calc'!A0"

HOSTILE_EVENT = {
    "event_id": "hostile-1",
    "action": "iam.role.update",
    "timestamp": "2026-03-01T10:00:00.123456Z",
    "severity": "high",
    "outcome": "success",
    "description": HOSTILE,
    "actor": {"id": "=cmd|' /C calc'!A0", "name": "eve|\"]=\\", "email": "eve@example.com\r\nBcc: x@y.z"},
    "resource": {"type": "role", "id": "role]1", "name": "<script>x</script>"},
    "ip_address": "203.0.113.9",
    "user_agent": "ua\r\nInjected: 1",
    "project": "acme",
    "tags": ["a|b", "c=d"],
    "metadata": {"note": HOSTILE},
}


def _shared() -> Path:
    """The project's shared/ folder: beside the checkout (as CI lays it out), else SHARED_DIR."""
    if os.environ.get("SHARED_DIR"):
        return Path(os.environ["SHARED_DIR"])
    beside = Path(__file__).resolve().parents[1].parent / "shared"
    return beside if beside.is_dir() else Path("/work/shared")


# Real, public audit logs and SigmaHQ rules (sources and licences: shared/realdata/README.md).
REALDATA = _shared() / "realdata"
