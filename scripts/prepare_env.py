#!/usr/bin/env python3
"""Find PostgreSQL for `make run` / `make test` and write `.env` beside manage.py.

Order: DATABASE_URL from the environment; else a server on localhost (TCP 5432 or the Unix
socket); else a project-local cluster under .pgdata/ started from the installed PostgreSQL
binaries (as an unprivileged user when run as root, since postgres refuses to run as root).
Creates the database when it is missing.

Two roles (README, "Database roles"): the one found above owns the schema and runs the
migrations (DATABASE_OWNER_URL); the console itself runs as `<database>_console`, a role this
script creates (LOGIN, no superuser, no CREATEDB or CREATEROLE, owning nothing) with a password
kept in .env; `manage.py migrate` grants it what the console needs. With DATABASE_URL and
DATABASE_OWNER_URL both set, they are used as they are. Where the owner may not create roles,
one role does both, with a warning.

Prints DATABASE_URL (the console's role); with --shell, `export` lines for both URLs.
"""
from __future__ import annotations

import getpass
import glob
import hashlib
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "auditconsole"
LOCAL_PORT = 54329
LOCAL_USER = "auditpg"


def log(message: str) -> None:
    print(f"[setup] {message}", file=sys.stderr)


def can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def ensure_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if can_connect(url):
        return
    admin = with_db(url, "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def find_server() -> str | None:
    user = getpass.getuser()
    candidates = [
        "postgres://postgres@127.0.0.1:5432/postgres",
        f"postgres://{user}@127.0.0.1:5432/postgres",
        "postgres://postgres@/postgres?host=/var/run/postgresql",
        f"postgres://{user}@/postgres?host=/var/run/postgresql",
        f"postgres://postgres@127.0.0.1:{LOCAL_PORT}/postgres",
    ]
    for url in candidates:
        if can_connect(url):
            return url
    return None


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    matches = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not matches:
        sys.exit(f"[setup] no PostgreSQL found: set DATABASE_URL, start a server on localhost, or install postgresql")
    return matches[-1]


def run_as(user: str | None, args: list[str]) -> None:
    if user:
        args = ["runuser", "-u", user, "--"] + args
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def start_local_cluster() -> str:
    as_root = os.geteuid() == 0
    runner = None
    data = ROOT / ".pgdata"
    if as_root:
        try:
            pwd.getpwnam(LOCAL_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", LOCAL_USER], check=True)
        runner = LOCAL_USER
        # The cluster must be reachable by that user: a checkout below a private directory
        # (mktemp -d) is not, so the data then lives in a per-checkout folder under /var/tmp.
        probe = subprocess.run(["runuser", "-u", LOCAL_USER, "--", "test", "-x", str(ROOT)])
        if probe.returncode != 0:
            digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
            data = Path(f"/var/tmp/auditconsole-pgdata-{digest}")
    cluster = data / "cluster"
    data.mkdir(parents=True, exist_ok=True)
    if as_root:
        shutil.chown(data, LOCAL_USER)
    if not (cluster / "PG_VERSION").exists():
        log(f"initialising a local PostgreSQL cluster in {cluster}")
        run_as(runner, [pg_bin("initdb"), "-D", str(cluster), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
    log(f"starting the local cluster on 127.0.0.1:{LOCAL_PORT}")
    run_as(runner, [
        pg_bin("pg_ctl"), "-D", str(cluster), "-l", str(data / "server.log"), "-w", "start",
        "-o", f"-p {LOCAL_PORT} -c listen_addresses=127.0.0.1 -k {data}",
    ])
    url = f"postgres://postgres@127.0.0.1:{LOCAL_PORT}/postgres"
    for _ in range(30):
        if can_connect(url):
            return url
        time.sleep(0.5)
    sys.exit(f"[setup] the local cluster did not start; see {data / 'server.log'}")


def console_role_name(database: str) -> str:
    return f"{database}_console"[:63]


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", parts.path,
                       parts.query, parts.fragment))


def ensure_console_role(owner_url: str, role: str, password: str) -> bool:
    """Create (or reset) the console's login role; False when the owner may not manage roles."""
    try:
        with psycopg.connect(owner_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
            ).format(sql.SQL(verb), sql.Identifier(role), sql.Literal(password)))
            if not exists:
                log(f"created the console's database role {role} (it owns nothing; migrate grants it)")
        return True
    except psycopg.errors.InsufficientPrivilege as error:
        log(f"WARNING: cannot create the role {role} ({str(error).strip()}); the console will run as the "
            "owner of its tables, which can switch the append-only triggers off (README, Database roles)")
        return False


def write_env(values_: dict[str, str]) -> dict[str, str]:
    path = ROOT / ".env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    values.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    values.setdefault("DATABASE_CONSOLE_PASSWORD", secrets.token_urlsafe(24))
    values.update(values_)
    if "DATABASE_OWNER_URL" not in values_:
        values.pop("DATABASE_OWNER_URL", None)
    body = "# Written by scripts/prepare_env.py (make run / make test). Local settings only.\n"
    body += "".join(f"{key}={value}\n" for key, value in values.items())
    path.write_text(body)
    path.chmod(0o600)
    return values


def main() -> None:
    url, owner = os.environ.get("DATABASE_URL"), os.environ.get("DATABASE_OWNER_URL")
    if url and owner:
        ensure_database(owner)
        urls = {"DATABASE_OWNER_URL": owner, "DATABASE_URL": url}
    else:
        if not url:
            server = find_server() or start_local_cluster()
            url = with_db(server, DB_NAME)
        ensure_database(url)
        owner = url
        database = urlsplit(url).path.lstrip("/")
        role = console_role_name(database)
        password = write_env({})["DATABASE_CONSOLE_PASSWORD"]
        if urlsplit(url).username != role and ensure_console_role(owner, role, password):
            urls = {"DATABASE_OWNER_URL": owner, "DATABASE_URL": with_user(owner, role, password)}
        else:
            urls = {"DATABASE_URL": url}
    write_env(urls)
    if "--shell" in sys.argv[1:]:
        print("".join(f"export {key}={shlex.quote(value)}\n" for key, value in urls.items()), end="")
        if "DATABASE_OWNER_URL" not in urls:
            print("unset DATABASE_OWNER_URL")
    else:
        print(urls["DATABASE_URL"])


if __name__ == "__main__":
    main()
