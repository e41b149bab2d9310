"""Item 6 of the hardening issue: the console runs as a database role that owns nothing.

The owner of a table can switch its triggers off, so the append-only triggers alone do not hold
against the console's own credentials. `make test` (like `make run`) sets up two roles
(scripts/prepare_env.py): the tests' connections take the console's role (tests/conftest.py),
and these tests try, as that role, everything an attacker holding its password would.
"""
from __future__ import annotations

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import DatabaseError

from apps.events.db_roles import append_only_tables, grant_console_role, log_powers
from apps.events.ingest import event_ingest
from tests.asgi_server import SERVER_NAME, uvicorn_server
from tests.factories import as_owner, make_events, served_database_url

pytestmark = pytest.mark.django_db

LOG_TABLES = ("audit_event", "audit_checkpoint", "audit_chain_stub", "retention_vault_lock")


@pytest.fixture(autouse=True)
def two_roles():
    assert settings.CONSOLE_DB_ROLE, ("the suite runs as the console's own role: run it through `make test`, "
                                      "or set DATABASE_OWNER_URL beside DATABASE_URL (README, Database roles)")


def refused(statement: str, params=None) -> str:
    """Run `statement` as the console's role; the database's refusal (the test fails if none)."""
    with pytest.raises(DatabaseError) as refusal, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
    return str(refusal.value)


def test_the_console_runs_as_its_own_role_which_is_no_superuser_and_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        user, superuser, createdb, createrole = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
                       " AND relpersistence <> 't'")
        owned = cursor.fetchone()[0]
        assert log_powers(cursor) == []
    assert user == settings.CONSOLE_DB_ROLE
    assert (superuser, createdb, createrole, owned) == (False, False, False, 0)


def test_the_log_tables_are_the_ones_the_console_may_only_append_to():
    with connection.cursor() as cursor:
        assert set(LOG_TABLES) <= set(append_only_tables(cursor))


@pytest.mark.parametrize("table", LOG_TABLES)
@pytest.mark.parametrize("statement", [
    "UPDATE {table} SET {column} = {column}",
    "DELETE FROM {table}",
    "TRUNCATE {table}",
])
def test_the_console_role_may_not_change_or_remove_rows_of_the_log(table, statement):
    event_ingest(make_events(3))
    column = {"audit_event": "action", "audit_checkpoint": "seq", "audit_chain_stub": "seq",
              "retention_vault_lock": "id"}[table]
    message = refused(statement.format(table=table, column=column))
    assert "permission denied" in message


@pytest.mark.parametrize("statement", [
    "ALTER TABLE audit_event DISABLE TRIGGER ALL",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update",
    "DROP TRIGGER audit_event_no_update ON audit_event",
    "ALTER TABLE audit_event OWNER TO CURRENT_USER",
    "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    "DROP TABLE audit_event",
])
def test_the_console_role_may_not_switch_the_append_only_triggers_off(statement):
    message = refused(statement)
    assert "must be owner" in message or "permission denied" in message


def test_the_console_role_may_not_turn_triggers_off_for_its_session():
    assert "permission denied" in refused("SET session_replication_role = replica")


def test_the_console_role_cannot_grant_itself_what_it_lacks():
    with connection.cursor() as cursor:
        cursor.execute("GRANT UPDATE, DELETE, TRUNCATE ON audit_event TO CURRENT_USER")  # a warning, nothing granted
        cursor.execute("SELECT has_table_privilege('audit_event', 'UPDATE'), has_table_privilege('audit_event', 'DELETE'),"
                       " has_table_privilege('audit_event', 'TRUNCATE')")
        assert cursor.fetchone() == (False, False, False)


def test_retentions_purge_function_refuses_a_segment_that_was_not_verified():
    event_ingest(make_events(3))
    message = refused("SELECT retention_purge_segment(%s)", [987654])
    assert "not verified" in message


def test_the_console_still_appends_reads_and_keeps_its_own_tables():
    event_ingest(make_events(5))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event")
        assert cursor.fetchone()[0] == 5
        cursor.execute("UPDATE audit_chain_head SET id = id")  # the chain's own bookkeeping stays writable


def test_migrate_grants_a_new_console_role_exactly_read_and_append_on_the_log():
    with as_owner() as cursor:
        cursor.execute("CREATE ROLE probe_console NOLOGIN")  # undone with the test's transaction
        tables = grant_console_role(cursor, "probe_console")
        cursor.execute(
            "SELECT t, p, has_table_privilege('probe_console', t, p) FROM unnest(%s::text[]) t, "
            "unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) p", [list(LOG_TABLES)])
        log = {(table, privilege): granted for table, privilege, granted in cursor.fetchall()}
        cursor.execute("SELECT has_table_privilege('probe_console', 'django_session', 'UPDATE'),"
                       " has_table_privilege('probe_console', 'django_session', 'TRUNCATE')")
        sessions = cursor.fetchone()
    assert set(LOG_TABLES) <= set(tables)
    assert {key for key, granted in log.items() if granted} == {(t, p) for t in LOG_TABLES for p in ("SELECT", "INSERT")}
    assert sessions == (True, False)


@pytest.mark.django_db(transaction=True)
def test_a_served_console_logs_in_as_the_console_role():
    with uvicorn_server() as base:
        # A bearer token is looked up in the database: the server's pool connects.
        assert httpx.get(base + "/api/v1/audit-logs", headers={"Authorization": "Bearer ac_nope"}, timeout=10).status_code == 401
        with psycopg.connect(served_database_url()) as probe:
            users = {row[0] for row in probe.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = %s", [SERVER_NAME])}
    assert users == {settings.CONSOLE_DB_ROLE}


def test_an_owner_connection_is_told_apart():
    with as_owner() as cursor:
        powers = log_powers(cursor)
    assert powers, "the owner (or a superuser) can alter the log, and log_powers must say so"
