#!/usr/bin/env python3
"""Find PostgreSQL for `make run` / `make test` and write `.env` beside manage.py.

Order: DATABASE_URL from the environment; else a server on localhost (TCP 5432 or the Unix
socket); else a project-local cluster under .pgdata/ started from the installed PostgreSQL
binaries (as an unprivileged user when run as root, since postgres refuses to run as root).
Prints the DATABASE_URL it settled on; creates the database when it is missing.
"""
from __future__ import annotations

import getpass
import glob
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

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


def write_env(url: str) -> None:
    path = ROOT / ".env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    values.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    values["DATABASE_URL"] = url
    body = "# Written by scripts/prepare_env.py (make run / make test). Local settings only.\n"
    body += "".join(f"{key}={value}\n" for key, value in values.items())
    path.write_text(body)
    path.chmod(0o600)


def main() -> None:
    url = os.environ.get("DATABASE_URL")
    if url:
        ensure_database(url)
    else:
        server = find_server() or start_local_cluster()
        url = with_db(server, DB_NAME)
        ensure_database(url)
    write_env(url)
    print(url)


if __name__ == "__main__":
    main()
