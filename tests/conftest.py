"""Shared fixtures: API tokens and a client that speaks JSON; the console's users are the personas
(tests/personas.py, loaded here as a plugin)."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections
from django.test import TransactionTestCase

from apps.events.db_roles import connection_close
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient, as_owner

# The personas (one user per role, with a small log whose visibility is known) serve every folder.
pytest_plugins = ["tests.personas", "tests.receivers"]


_fixture_teardown = TransactionTestCase._fixture_teardown


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """The test database is created and migrated by the owner role (DATABASE_OWNER_URL), as
    `make run` migrates: `manage.py migrate` then grants the console's role."""
    if settings.DATABASE_OWNER:
        connections["default"].settings_dict.update(settings.DATABASE_OWNER)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The tests then run as the console's own role (README, Database roles): every connection
    takes it when it starts (`-c role=...`, as SET ROLE does), which gives exactly its
    privileges (no UPDATE, DELETE or TRUNCATE of the log, no trigger control, no superuser
    setting). The login stays the owner's only so that a test can act as a tampering owner
    (tests.factories.as_owner) in its own transaction; the consoles the tests serve in
    subprocesses log in as the role itself (tests.factories.served_database_url).
    (Django's own `assume_role` option cannot be used with its connection pool: it composes
    the SET ROLE on a connection it has not got yet.)"""
    role = settings.CONSOLE_DB_ROLE
    connection = connections["default"]
    options = connection.settings_dict["OPTIONS"]
    before = options.get("options")
    if role:
        connection_close(connection)
        options["options"] = f"{before or ''} -c role={role}".strip()
    yield
    if role:
        connection_close(connection)
        if before is None:
            options.pop("options", None)
        else:
            options["options"] = before


def _teardown_bypassing_append_only(self):
    """Transactional tests end with a TRUNCATE of every table, which the events table refuses.

    Between tests only, the flush runs as the owner with session_replication_role = replica
    (what a superuser restoring a database would do), under which PostgreSQL fires no triggers.
    """
    with as_owner() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            _fixture_teardown(self)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


TransactionTestCase._fixture_teardown = _teardown_bypassing_append_only


@pytest.fixture
def ingest_token(db) -> str:
    return token_issue(scope="ingest").secret


@pytest.fixture
def read_token(db) -> str:
    return token_issue(scope="read").secret


@pytest.fixture
def ingest_api(ingest_token) -> ApiClient:
    return ApiClient(ingest_token)


@pytest.fixture
def read_api(read_token) -> ApiClient:
    return ApiClient(read_token)


@pytest.fixture
def ingest(ingest_api):
    """Send events through the real ingest API; returns the 202 body (fails the test otherwise)."""

    def send(*events):
        response = ingest_api.post("/api/v1/events", {"events": list(events)})
        assert response.status_code == 202, response.content
        return response.json()

    return send


def pytest_configure(config):
    config.addinivalue_line("markers", "audit_trail: record the console's own audit trail (off in other tests)")


def pytest_collection_modifyitems(config, items):
    """Real-browser tests run last: they are the slowest, and Playwright's sync API leaves an
    event loop running in the main thread for the rest of the session."""
    items.sort(key=lambda item: "/tests/browser/" in str(item.fspath))


@pytest.fixture(autouse=True)
def _console_audit_trail(request, settings):
    """The console records its own use (every page view, sign-in, API read) into the log.

    Tests that count the events of the log would count those records too, so the trail is
    recorded only in tests marked `audit_trail`, which check it.
    """
    settings.AUDIT_TRAIL_ENABLED = request.node.get_closest_marker("audit_trail") is not None
