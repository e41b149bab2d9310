"""The shared test personas: one user per role (plus limited variants), a small log whose visibility is
known, and a client signed in as any of them. Every test folder uses these; none defines its own.

Variants, each defined once here:
- `personas_with_passwords`: the same people, each with the password PASSWORD, for tests that
  sign in through the sign-in form (browser tests, lockout, the sign-in's audit trail);
  `fast_passwords` hashes with MD5 for tests that sign in many times in-process;
- `second_admin`: another Audit Administrator, for the rules about the last one;
- `superuser`: the break-glass account `createsuperuser` makes, only for the tests of what a
  superuser may do without a role.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import get_hasher, make_password
from django.test import Client
from django.utils import timezone as django_timezone

from apps.events.ingest import event_ingest
from apps.rbac.audit_trail import Actor
from apps.rbac.models import Role, Team
from tests.factories import give_role

JANUARY = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))

# event_id → (actor_id, actor_email, project, occurred_at)
LOG = {
    "alice-p1": ("alice", "", "p1", "2026-01-10T10:00:00Z"),
    "alice-by-email-p2": ("usr_9", "ALICE@example.com", "p2", "2026-03-05T10:00:00Z"),
    "bob-p1": ("bob", "bob@example.com", "p1", "2026-02-10T10:00:00Z"),
    "carol-p2": ("carol", "carol@example.com", "p2", "2026-01-20T10:00:00Z"),
    "max-p2": ("max", "", "p2", "2026-03-01T10:00:00Z"),
    "system-p1": ("", "", "p1", "2025-12-31T23:00:00Z"),
}
EVERYTHING = set(LOG)

# What each persona may see: the matrix the visibility tests check against.
VISIBLE = {
    "admin": EVERYTHING,
    "analyst": EVERYTHING,
    "analyst_p1": {"alice-p1", "bob-p1", "system-p1"},
    "compliance": EVERYTHING,
    "manager": {"alice-p1", "alice-by-email-p2", "bob-p1", "max-p2"},
    "manager_of_ops": {"carol-p2"},
    "regular": {"alice-p1", "alice-by-email-p2"},
    "auditor": {"alice-p1", "carol-p2"},
    "no_role": set(),
}
PERSONAS = list(VISIBLE)

# The role each persona holds (narrowed for analyst_p1 and the auditor, below); no_role has none.
ROLE_OF = {
    "admin": Role.Slug.AUDIT_ADMINISTRATOR,
    "analyst": Role.Slug.SECURITY_ANALYST,
    "analyst_p1": Role.Slug.SECURITY_ANALYST,
    "compliance": Role.Slug.COMPLIANCE_OFFICER,
    "manager": Role.Slug.MANAGER,
    "manager_of_ops": Role.Slug.MANAGER,
    "regular": Role.Slug.REGULAR_USER,
    "auditor": Role.Slug.EXTERNAL_AUDITOR,
    "no_role": None,
}

# Every persona's password in `personas_with_passwords`.
PASSWORD = "correct-horse-battery-9"


def _user(username: str, email: str = "", **extra):
    # No password: tests sign in with force_login, and hashing passwords would slow every test.
    return get_user_model().objects.create(username=username, email=email, **extra)


@pytest.fixture
def log(db):
    event_ingest([
        {"event_id": event_id, "action": "demo.thing.do", "timestamp": when, "project": project,
         "actor": {"type": "user" if actor_id else "system", "id": actor_id, "email": email}}
        for event_id, (actor_id, email, project, when) in LOG.items()
    ])
    return LOG


def personas_create() -> dict:
    """Every persona by name; alice, bob and max are on the payments team, carol on ops.

    The `people` fixture calls it for one test; a module-scoped fixture that stores its data
    once for the module (tests/reports) calls it inside its own transaction."""
    users = {
        "admin": _user("ada", "ada@example.com"),
        "analyst": _user("sam", "sam@example.com"),
        "analyst_p1": _user("pat", "pat@example.com"),
        "compliance": _user("cora", "cora@example.com"),
        "manager": _user("max", ""),
        "manager_of_ops": _user("olga", "olga@example.com"),
        "regular": _user("alice", "alice@example.com"),
        "auditor": _user("auditor-kpmg", ""),
        "no_role": _user("nora", "nora@example.com"),
    }
    bob, carol = _user("bob", "bob@example.com"), _user("carol", "carol@example.com")
    limits = {
        "analyst_p1": {"projects": ["p1"]},
        "auditor": {"window_start": JANUARY[0], "window_end": JANUARY[1],
                    "expires_at": django_timezone.now() + timedelta(days=7)},
    }
    assignments = {persona: give_role(users[persona], slug, **limits.get(persona, {}))
                   for persona, slug in ROLE_OF.items() if slug}
    give_role(bob, Role.Slug.REGULAR_USER)
    payments = Team.objects.create(name="payments")
    payments.members.add(users["manager"], users["regular"], bob)
    ops = Team.objects.create(name="ops")
    ops.members.add(carol)
    # olga manages ops without being a member of it: her assignment names the team.
    assignments["manager_of_ops"].teams.add(ops)
    users["bob"], users["carol"] = bob, carol
    return users


@pytest.fixture
def people(db):
    """Every persona by name (see personas_create)."""
    return personas_create()


@pytest.fixture
def browser_for(people):
    """A test client signed in as a persona."""

    def client(persona: str) -> Client:
        c = Client()
        c.force_login(people[persona], backend="apps.rbac.backends.RoleBackend")
        return c

    return client


def actor_for(user) -> Actor:
    return Actor.from_principal(user)


@functools.cache
def _hashed_password(algorithm: str) -> str:
    # One hash per hasher for the whole session: PBKDF2 is slow on purpose, and the same
    # hash serves every persona (a salt shared between test users costs nothing).
    return make_password(PASSWORD, hasher=algorithm)


@pytest.fixture
def fast_passwords(settings):
    """MD5 for this test's passwords: for tests that sign in many times within the test process
    (a server in a subprocess, such as uvicorn, knows only the default hashers). Request it
    before `personas_with_passwords` (`pytest.mark.usefixtures("fast_passwords")` does)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def personas_with_passwords(people):
    """The personas, each of whom can sign in through the form with PASSWORD."""
    encoded = _hashed_password(get_hasher().algorithm)
    get_user_model().objects.filter(pk__in=[user.pk for user in people.values()]).update(password=encoded)
    for user in people.values():
        user.password = encoded
    return people


@pytest.fixture
def second_admin(people):
    """ade, a second Audit Administrator beside ada (the rules about the last one need two)."""
    user = _user("ade", "ade@example.com")
    give_role(user, Role.Slug.AUDIT_ADMINISTRATOR)
    return user


@pytest.fixture
def superuser(db):
    """root, a break-glass superuser without any role: every permission, every event. Only the
    tests of that behaviour use it; everything else signs in as a persona, through the roles."""
    return get_user_model().objects.create_superuser("root", "root@example.com", password=None)
