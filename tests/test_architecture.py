"""Structural rules that keep the console secure as it grows."""
from __future__ import annotations

import ast
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
OWNERS = {
    "apps/events/models.py", "apps/events/chain.py", "apps/events/reads.py", "apps/events/ingest.py",
    "apps/events/demo.py", "apps/rbac/scoping.py",
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
