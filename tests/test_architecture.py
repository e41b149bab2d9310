"""Structural rules that keep the console secure as it grows."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent


def _patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_url_declares_who_may_call_it():
    undeclared = [
        route for route, view in _patterns(get_resolver())
        if not getattr(view, "required_permission", None)
        and not route.startswith("static/")
    ]
    assert undeclared == [], f"views without requires()/public/token_required: {undeclared}"


# Modules that own the log and may touch Event.objects directly; everything else reads events
# through Event.objects.visible_to(...) (apps.rbac.scoping) or calls these modules.
# The modules that may touch Event.objects directly: the model, the chain (which hashes every
# event), the rollups (which count every event; the dashboard serves the global ones only to users
# who see every event, apps.dashboard.reads.sees_everything, and the per-actor ones only to a
# scope that names its actors, apps.events.actor_rollups.actor_keys), the read services and the
# rule itself.
OWNERS = {
    "apps/events/models.py", "apps/events/chain.py", "apps/events/ingest.py", "apps/events/rollups.py",
    "apps/search/reads.py", "apps/rbac/scoping.py",
}


def test_events_are_read_only_through_the_visibility_rule():
    offenders = []
    for path in (ROOT / "apps").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative in OWNERS or "/migrations/" in relative:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            # Event.objects.<anything> other than visible_to(...)
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "objects" and isinstance(node.value.value, ast.Name)
                    and node.value.value.id == "Event" and node.attr != "visible_to"):
                offenders.append(f"{relative}:{node.lineno} Event.objects.{node.attr}")
    assert offenders == [], offenders


def _declared_permissions():
    for route, view in _patterns(get_resolver()):
        declared = getattr(view, "required_permission", None)
        if declared and declared != "public" and not declared.startswith("token:"):
            yield route, declared


def test_every_permission_a_view_requires_is_one_a_role_can_grant():
    from apps.rbac.roles import CATALOGUE

    unknown = [(route, perm) for route, perm in _declared_permissions() if perm not in CATALOGUE]
    assert unknown == [], f"requires() names permissions outside apps.rbac.roles.CATALOGUE: {unknown}"


def test_every_role_is_made_of_catalogued_permissions_and_the_administrator_holds_them_all():
    from apps.rbac.roles import CATALOGUE, ROLES

    for role in ROLES:
        assert set(role.permissions) <= set(CATALOGUE), role.slug
    administrator = next(role for role in ROLES if role.slug == "audit-administrator")
    assert set(administrator.permissions) == set(CATALOGUE)


def test_the_visibility_rule_is_defined_in_one_place():
    definitions = []
    for path in (ROOT / "apps").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "event_scope":
                definitions.append(path.relative_to(ROOT).as_posix())
    assert definitions == ["apps/rbac/scoping.py"]


# Calls that read events on behalf of a console user or API token.
EVENT_READS = {"event_page", "event_get", "event_list", "event_search", "event_export", "visible_to"}


def test_every_view_that_reads_events_records_the_read_in_the_audit_trail():
    """Seed 001's audit log of audit logs: a view that reads events calls audit_record too."""
    silent = []
    for path in (ROOT / "apps").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if not (path.name in ("views.py", "api.py") or path.name.endswith("_views.py")):
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef):
                continue
            called = {
                node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                for node in ast.walk(function) if isinstance(node, ast.Call)
            }
            if called & EVENT_READS and "audit_record" not in called:
                silent.append(f"{relative}:{function.lineno} {function.name}")
    assert silent == [], f"views that read events without recording it (apps.rbac.audit_trail): {silent}"


def test_the_roles_page_groups_every_permission_of_the_catalogue_once():
    from apps.rbac.roles import CATALOGUE, PERMISSION_GROUPS

    grouped = [label for labels in PERMISSION_GROUPS.values() for label in labels]
    assert sorted(grouped) == sorted(CATALOGUE)


def test_apps_import_only_from_the_layers_below_them():
    """The contracts in .importlinter: events < rbac < search < features < api < demo, the feature
    apps independent of each other, and the log importing no other app (so no import circle can
    run through it)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


# Helper modules of the tests; test modules import these, never one another.
TEST_HELPERS = {"tests/personas.py", "tests/factories.py", "tests/logbook.py", "tests/asgi_server.py"}
USER_MAKERS = {"create_user", "create_superuser"}


def _test_modules():
    for path in sorted((ROOT / "tests").rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text())


def test_no_test_module_imports_another():
    offenders = []
    for relative, tree in _test_modules():
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                target = name.replace(".", "/")
                if name.startswith("tests.") and f"{target}.py" not in TEST_HELPERS:
                    offenders.append(f"{relative}:{node.lineno} imports {name}")
    assert offenders == [], offenders


def test_test_users_are_made_only_by_the_personas():
    """The personas (tests/personas.py) are the tests' users; a test that needs another kind of
    user adds it there, once, rather than making its own."""
    offenders = []
    for relative, tree in _test_modules():
        if relative == "tests/personas.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                made = node.func.attr in USER_MAKERS or (
                    node.func.attr == "create" and any(k.arg == "username" for k in node.keywords))
                if made:
                    offenders.append(f"{relative}:{node.lineno} {node.func.attr}")
            if isinstance(node, ast.FunctionDef) and node.name in ("admin_user", "admin_client", "regular_user"):
                offenders.append(f"{relative}:{node.lineno} fixture {node.name}")
            if isinstance(node, ast.arg) and node.arg in ("admin_user", "admin_client", "django_user_model"):
                offenders.append(f"{relative}:{node.lineno} uses pytest-django's {node.arg}")
    assert offenders == [], offenders
