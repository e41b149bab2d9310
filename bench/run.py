#!/usr/bin/env python3
"""Run the benchmarks in bench/ and write BENCHMARKS.md at the repository root.

`make bench` calls this. Every module `bench/<name>.py` other than this one (and other than
names starting with `_`) is a benchmark: it defines `run(bench: Bench) -> Section`, and the
sections are written out in name order after the machine's facts and a summary of targets.

Benchmarks run against a scratch database (`auditconsole_bench_<pid>` on the server
DATABASE_URL names), created fresh for every measurement and dropped at the end: the events table refuses
DELETE and TRUNCATE, so a fresh database is the only way to start each measurement from the
same state, and the developer's database is never touched.

Machines are shared and noisy, so a result is a ratio against a baseline measured in the same
run; the absolute numbers stand beside it.
"""
from __future__ import annotations

import argparse
import base64
import importlib
import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
OUT_DIR = BENCH_DIR / "out"
# One scratch database per run (the process id keeps two runs on one server apart).
SCRATCH_DB = f"auditconsole_bench_{os.getpid()}"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@dataclass
class Target:
    """One requirement: `measure` must reach `goal` times `baseline` (both measured in this run)."""

    measure: str
    value: float
    baseline_name: str
    baseline: float
    goal: float
    unit: str = "events/s"

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else 0.0

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal


@dataclass
class Section:
    title: str
    body: str
    targets: list[Target] = field(default_factory=list)
    module: str = ""


class Bench:
    """What a benchmark module gets: options, the scratch database, and helpers around them."""

    def __init__(self, options: argparse.Namespace, server_url: str) -> None:
        self.options = options
        self.root = ROOT
        self.out_dir = OUT_DIR
        self.python = sys.executable
        self.admin_url = with_db(server_url, "postgres")
        self.database_url = with_db(server_url, SCRATCH_DB)
        # Checkpoints are signed during ingest; a throwaway key keeps the bench from creating
        # the developer key file (and from racing on it from several server processes).
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "DJANGO_SETTINGS_MODULE": "auditconsole.settings",
            "PYTHONPATH": str(ROOT),
            # collectstatic is not part of the bench; whitenoise warns about the missing folder.
            "PYTHONWARNINGS": "ignore:No directory at",
        }
        self.env.pop("DEBUG", None)
        self.log = log

    def manage(self, *args: str) -> str:
        """Run a management command against the scratch database; its stdout."""
        done = subprocess.run(
            [self.python, "manage.py", *args], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def fresh_database(self) -> str:
        """Drop and recreate the scratch database, migrate it; its URL."""
        self.drop_database()
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{SCRATCH_DB}"')
        self.manage("migrate", "--noinput", "-v0")
        return self.database_url

    def drop_database(self) -> None:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')

    def issue_ingest_token(self) -> str:
        # The secret is printed alone on the last line.
        return self.manage("issue_token", "--scope", "ingest", "--name", "bench").strip().splitlines()[-1]


# --- machine facts -------------------------------------------------------------------------


def _command(*args: str) -> str:
    try:
        return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_facts(bench: Bench) -> list[tuple[str, str]]:
    import django
    import psycopg

    with psycopg.connect(bench.admin_url) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings"
            " WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync')"
        ).fetchall())
    commit = _command("git", "rev-parse", "--short", "HEAD")
    if commit and _command("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    # A run from an exported tree (git archive) names its commit through BENCH_COMMIT.
    commit = commit or os.environ.get("BENCH_COMMIT", "unknown")
    return [
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("nproc", _command("nproc") or str(os.cpu_count())),
        ("CPU", _cpu_model()),
        ("memory", _memory()),
        # Other work on the machine weighs on every number; the load averages say how much.
        ("load average before the run", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("Python", platform.python_version()),
        ("PostgreSQL", f"{server_version} (shared_buffers {settings.get('shared_buffers')}, "
                       f"synchronous_commit {settings.get('synchronous_commit')}, fsync {settings.get('fsync')})"),
        ("Django / psycopg", f"{django.get_version()} / {psycopg.__version__} ({psycopg.pq.__impl__} libpq wrapper)"),
        ("OS", platform.platform()),
        ("commit", commit),
    ]


# --- the report ----------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    return f"{value * 100:.1f}%"


INTRO = """# Benchmarks

Generated by `make bench` (`bench/run.py`); do not edit by hand. What each number means and
how it is measured: [bench/README.md](bench/README.md).

Every result is a ratio against a baseline measured in the same run on the same machine, with
the absolute numbers beside it: the machine is shared and noisy, so absolute rates drift
between runs while ratios hold much better.
"""
TARGETS_HEAD = [
    "| bench | measure | result | baseline (same run) | baseline result | ratio | target | met |",
    "|---|---|---:|---|---:|---:|---:|---|",
]


def _begin(name: str) -> str:
    return f"<!-- bench/{name}.py -->"


def _end(name: str) -> str:
    return f"<!-- end of bench/{name}.py -->"


def kept_from(path: Path, names: set[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """From an earlier report: the target rows and sections of the modules in `names`.

    A run of some modules only (`bench/run.py ingest`) keeps the others' results, which say
    when and on which commit they were measured.
    """
    rows: dict[str, list[str]] = {}
    sections: dict[str, str] = {}
    if not path.exists():
        return rows, sections
    text = path.read_text()
    # Target rows are those of the targets table, before the machine's facts: a section's own
    # table can have a first column named like a module ("| query | API p50 |" in query's).
    targets = text.split("\n## Machine", 1)[0]
    for line in targets.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0].strip("`").removeprefix("bench/").removesuffix(".py") in names:
            rows.setdefault(cells[0].strip("`").removeprefix("bench/").removesuffix(".py"), []).append(line)
    for name in names:
        begin, end = text.find(_begin(name)), text.find(_end(name))
        if begin >= 0 and end > begin:
            sections[name] = text[begin:end + len(_end(name))]
    return rows, sections


def render(facts: list[tuple[str, str]], sections: list[Section], seconds: float, *,
           kept_rows: dict[str, list[str]], kept_sections: dict[str, str], run_label: str) -> str:
    lines = [INTRO, "## Targets", "", *TARGETS_HEAD]
    fresh = {section.module: section for section in sections}
    for name in sorted(fresh.keys() | kept_rows.keys() | kept_sections.keys()):
        if name in fresh:
            for t in fresh[name].targets:
                lines.append(
                    f"| `{name}` | {t.measure} | {fmt_rate(t.value)} {t.unit} | {t.baseline_name} | "
                    f"{fmt_rate(t.baseline)} {t.unit} | **{fmt_ratio(t.ratio)}** | ≥ {fmt_ratio(t.goal)} | "
                    f"{'yes' if t.met else '**no**'} |"
                )
        else:
            lines += kept_rows.get(name, [])
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in facts]
    lines.append(f"| bench wall time | {seconds:.0f} s ({', '.join(sorted(fresh))}) |")
    for name in sorted(fresh.keys() | kept_sections.keys()):
        if name in fresh:
            section = fresh[name]
            lines += ["", _begin(name), f"## {section.title}", "", f"_{run_label}_", "", section.body.strip(), _end(name)]
        else:
            lines += ["", kept_sections[name]]
    return "\n".join(lines) + "\n"


def discover(only: list[str] | None) -> list[str]:
    names = sorted(
        path.stem for path in BENCH_DIR.glob("*.py")
        if path.stem != "run" and not path.stem.startswith("_")
    )
    if only:
        unknown = set(only) - set(names)
        if unknown:
            sys.exit(f"no benchmark module named {', '.join(sorted(unknown))} in bench/ (have {', '.join(names)})")
        names = [name for name in names if name in only]
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="benchmark modules to run (default: every one in bench/)")
    parser.add_argument("--events", type=int, default=60_000, help="events in the measured API run (default 60000)")
    parser.add_argument("--select-events", type=int, default=12_000,
                        help="events per trial when choosing the number of server workers (default 12000)")
    parser.add_argument("--workers", default="2,3,4", help="uvicorn worker counts to try (default 2,3,4)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    parser.add_argument("--batch", type=int, default=500, help="events per request (default 500)")
    parser.add_argument("--compare-wsgi", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the app under WSGI, for comparison (default on)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="where to write the report")
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database behind for inspection")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    bench = Bench(options, server_url)
    if urlsplit(server_url).path.lstrip("/").startswith("auditconsole_bench"):
        sys.exit("DATABASE_URL names a bench scratch database; point it at the dev database")

    # The bench process itself runs Django (verification, in-process profiles) against the
    # scratch database: the environment is set before Django reads its settings.
    sys.path.insert(0, str(ROOT))
    # Benchmark modules import their helpers from `run`: let them find this very module.
    sys.modules.setdefault("run", sys.modules[__name__])
    os.environ.update({key: bench.env[key] for key in ("DATABASE_URL", "AUDIT_SIGNING_KEY", "DJANGO_SETTINGS_MODULE")})
    os.environ.pop("DEBUG", None)
    import django

    django.setup()
    OUT_DIR.mkdir(exist_ok=True)

    started = time.perf_counter()
    facts = machine_facts(bench)
    sections: list[Section] = []
    names = discover(options.modules)
    try:
        for name in names:
            module = importlib.import_module(name)
            if not callable(getattr(module, "run", None)):
                log(f"bench/{name}.py has no run(bench); skipped")
                continue
            log(f"running bench/{name}.py")
            section = module.run(bench)
            section.module = name
            sections.append(section)
    finally:
        if not options.keep_db:
            bench.drop_database()
    facts.insert(5, ("load average after the run", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    output = Path(options.output)
    others = set(discover(None)) - {section.module for section in sections}
    kept_rows, kept_sections = kept_from(output, others)
    date, commit = dict(facts)["date"], dict(facts)["commit"]
    run_label = f"Measured {date} on commit {commit}; load average {dict(facts)['load average before the run']} before."
    output.write_text(render(facts, sections, time.perf_counter() - started,
                             kept_rows=kept_rows, kept_sections=kept_sections, run_label=run_label))
    log(f"wrote {output}")
    for section in sections:
        for t in section.targets:
            log(f"{t.measure}: {fmt_ratio(t.ratio)} of {t.baseline_name} (target {fmt_ratio(t.goal)}): "
                f"{'met' if t.met else 'NOT met'}")
    missed = any(not t.met for section in sections for t in section.targets)
    return 1 if options.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
