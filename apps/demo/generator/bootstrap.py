"""The demo's first-run set-up: a superuser to sign in with and an ingest token to send events.

Their secrets are written once to files beside manage.py (mode 600, git-ignored), so that every
`make run` can show them again; a saved secret that no longer works (the password was changed,
the token revoked, the database reset) is not shown as if it did.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.rbac.assignments import role_assign
from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.models import Role
from apps.rbac.tokens import token_authenticate, token_issue
from apps.rbac.users import user_state

ADMIN_USERNAME = "admin"
_ACTOR = "bootstrap_demo"


@dataclass(frozen=True)
class DemoAdmin:
    username: str
    # None when the password was set earlier and the saved copy is missing or out of date.
    password: str | None
    created: bool
    is_superuser: bool


def secret_read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (FileNotFoundError, PermissionError):
        return None


def secret_save(path: Path, secret: str) -> None:
    """Write `secret` readable by the owner only (created 600, never world-readable in between)."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def demo_admin_ensure(*, password_file: Path) -> DemoAdmin:
    """Create the superuser `admin` with a random password unless a user of that name exists."""
    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
            audit_record(
                actor=Actor.system(_ACTOR), action="rbac.user.create", resource_type="user",
                resource_id=ADMIN_USERNAME, severity="medium",
                description=f"{_ACTOR} created the demo superuser {ADMIN_USERNAME}",
                changes={"before": None, "after": {**user_state(user), "is_superuser": True}},
            )
            # The demo administrator holds the Audit Administrator role too, so the Access pages
            # show a real assignment and the last-administrator rule has someone to protect.
            role_assign(actor=Actor.system(_ACTOR), user=user,
                        role=Role.objects.get(slug=Role.Slug.AUDIT_ADMINISTRATOR))
        secret_save(password_file, password)
        return DemoAdmin(ADMIN_USERNAME, password, created=True, is_superuser=True)
    saved = secret_read(password_file)
    # One password hash (a fraction of a second): worth it not to print a stale password.
    password = saved if saved and user.check_password(saved) else None
    return DemoAdmin(ADMIN_USERNAME, password, created=False, is_superuser=user.is_superuser)


def demo_ingest_token_ensure(*, token_file: Path) -> tuple[str, bool]:
    """The saved demo ingest token while it still works, else a new one; (secret, created)."""
    saved = secret_read(token_file)
    if saved and token_authenticate(saved) is not None:
        return saved, False
    issued = token_issue(scope="ingest", name="demo ingest token (bootstrap_demo)", actor=Actor.system(_ACTOR))
    secret_save(token_file, issued.secret)
    return issued.secret, True
