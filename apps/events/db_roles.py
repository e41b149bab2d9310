"""The two database roles: the owner, who migrates, and the console's role, which owns nothing.

The append-only triggers (migration 0003 and those like it) bind every role but one: the owner
of a table may `ALTER TABLE ... DISABLE TRIGGER` and then change what it likes. So the console
(web server, worker, commands) runs as a role that owns no object and holds only what it needs:

- on the log's append-only tables (every table with an `audit_refuse_change` trigger, and
  `audit_event`): SELECT and INSERT, never UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER;
- on every other table of the schema: SELECT, INSERT, UPDATE and DELETE (no TRUNCATE);
- the schema's sequences and functions (procrastinate's queue, the retention purge).

Retention's one way out of the events table is `retention_purge_segment()`, a SECURITY DEFINER
function the owner made (retention 0002): the console's role may call it, not DELETE itself.

`manage.py migrate` (auditconsole/management/commands/migrate.py) connects as the owner when
DATABASE_OWNER_URL is set and grants the console's role (DATABASE_URL's user) afterwards, so the
privileges follow every table a migration adds.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import sql

# Tables that only grow, beyond those marked by an audit_refuse_change trigger: audit_event's
# DELETE trigger lets retention's verified deletes through, so it is named here.
APPEND_ONLY_ALWAYS = ("audit_event",)

_APPEND_ONLY_BY_TRIGGER = """
    SELECT DISTINCT c.relname
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_proc p ON p.oid = t.tgfoid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE p.proname = 'audit_refuse_change' AND n.nspname = current_schema()
    ORDER BY c.relname
"""


def append_only_tables(cursor) -> list[str]:
    """The tables of the current schema that only grow."""
    cursor.execute(_APPEND_ONLY_BY_TRIGGER)
    found = {row[0] for row in cursor.fetchall()}
    cursor.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r' "
                   "AND relnamespace = current_schema()::regnamespace", [list(APPEND_ONLY_ALWAYS)])
    found.update(row[0] for row in cursor.fetchall())
    return sorted(found)


def grant_console_role(cursor, role: str) -> list[str]:
    """Give `role` what the console needs and nothing more; the append-only tables it got."""
    name = sql.Identifier(role)
    schema = sql.Identifier(_current_schema(cursor))
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(_current_database(cursor)), name),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, name),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(schema, name),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, name),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(schema, name),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, name),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(schema, name),
    ]
    for statement in statements:
        cursor.execute(statement)
    tables = append_only_tables(cursor)
    for table in tables:
        cursor.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM {}").format(
            sql.Identifier(table), name))
    return tables


def log_powers(cursor) -> list[str]:
    """What the connected role could do to the log beyond appending and reading it; [] for the
    console's own role. Each entry is a sentence for an operator."""
    cursor.execute("""
        SELECT r.rolname, r.rolsuper, r.rolbypassrls
        FROM pg_roles r WHERE r.rolname = current_user
    """)
    user, superuser, _ = cursor.fetchone()
    powers = []
    if superuser:
        powers.append(f"{user} is a superuser")
    cursor.execute("""
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i')
          AND pg_has_role(current_user, c.relowner, 'USAGE')
        ORDER BY c.relname LIMIT 3
    """)
    owned = [row[0] for row in cursor.fetchall()]
    if owned:
        powers.append(f"{user} owns (or is a member of the owner of) {', '.join(owned)}"
                      " and could switch the append-only triggers off")
    for table in append_only_tables(cursor):
        granted = [privilege for privilege in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER")
                   if _has_table_privilege(cursor, table, privilege)]
        if granted and not owned and not superuser:
            powers.append(f"{user} holds {', '.join(granted)} on {table}")
    return powers


@contextmanager
def connected_as(connection, credentials: dict | None) -> Iterator[None]:
    """Run the block on `connection` logged in with other credentials (USER and PASSWORD);
    the connection (and its pool) is closed before and after, so nothing of one role
    is used by the other. No-op when `credentials` is None."""
    if not credentials:
        yield
        return
    keys = ("USER", "PASSWORD")
    saved = {key: connection.settings_dict.get(key) for key in keys}
    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved_role = options.pop("assume_role", None)
    connection_close(connection)
    connection.settings_dict.update({key: credentials.get(key, saved[key]) for key in keys})
    try:
        yield
    finally:
        connection_close(connection)
        connection.settings_dict.update(saved)
        if saved_role:
            options["assume_role"] = saved_role


def connection_close(connection) -> None:
    """Close `connection` and its pool, so that the next use connects afresh with its settings."""
    connection.close()
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()


def _has_table_privilege(cursor, table: str, privilege: str) -> bool:
    cursor.execute("SELECT has_table_privilege(current_user, %s::regclass, %s)", [table, privilege])
    return cursor.fetchone()[0]


def _current_schema(cursor) -> str:
    cursor.execute("SELECT current_schema()")
    return cursor.fetchone()[0]


def _current_database(cursor) -> str:
    cursor.execute("SELECT current_database()")
    return cursor.fetchone()[0]
