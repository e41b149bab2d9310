"""Frameworks as data: the built-in YAML files, their copy in the database, and edits to it."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone

from apps.events.query import QueryError, validate_query
from apps.reports.models import Control, Evidence, Framework

FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"


class FrameworkFileError(ValueError):
    pass


@lru_cache(maxsize=1)
def builtin_frameworks() -> tuple[dict, ...]:
    """Every framework file, checked: keys present, references unique, every query valid."""
    loaded = []
    for path in sorted(FRAMEWORKS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        _check(path.name, data)
        loaded.append(data)
    loaded.sort(key=lambda d: (d.get("position", 0), d["name"]))
    return tuple(loaded)


def _check(name: str, data: dict) -> None:
    for key in ("key", "name", "controls"):
        if not data.get(key):
            raise FrameworkFileError(f"{name}: '{key}' is missing")
    refs = set()
    for control in data["controls"]:
        for key in ("ref", "title", "evidence"):
            if not control.get(key):
                raise FrameworkFileError(f"{name}: control {control.get('ref', '?')}: '{key}' is missing")
        if control["ref"] in refs:
            raise FrameworkFileError(f"{name}: control {control['ref']} appears twice")
        refs.add(control["ref"])
        for item in control["evidence"]:
            for key in ("title", "query", "shows"):
                if not item.get(key):
                    raise FrameworkFileError(f"{name}: {control['ref']}: evidence '{key}' is missing")
            try:
                validate_query(item["query"])
            except QueryError as error:
                raise FrameworkFileError(f"{name}: {control['ref']}: {item['query']!r}: {error}") from error


def frameworks_ensure() -> None:
    """Copy any built-in framework the database does not hold yet (edits already made stay)."""
    present = set(Framework.objects.values_list("key", flat=True))
    for data in builtin_frameworks():
        if data["key"] not in present:
            framework_install(data)


@transaction.atomic
def framework_install(data: dict) -> Framework:
    framework, _ = Framework.objects.update_or_create(
        key=data["key"],
        defaults={"name": data["name"], "version": data.get("version", ""),
                  "description": data.get("description", ""), "based_on": data.get("based_on", ""),
                  "position": data.get("position", 0), "updated_at": timezone.now(), "updated_by": ""},
    )
    framework.controls.all().delete()
    for position, item in enumerate(data["controls"]):
        control = Control.objects.create(framework=framework, ref=item["ref"], title=item["title"],
                                         description=item.get("description", ""), position=position)
        Evidence.objects.bulk_create([
            Evidence(control=control, title=e["title"], query=e["query"], shows=e["shows"], position=i)
            for i, e in enumerate(item["evidence"])
        ])
    return framework


def builtin_of(key: str) -> dict | None:
    return next((data for data in builtin_frameworks() if data["key"] == key), None)


def framework_list():
    frameworks_ensure()
    return Framework.objects.all()


def framework_get(key: str) -> Framework:
    frameworks_ensure()
    return Framework.objects.get(key=key)


def framework_as_dict(framework: Framework) -> dict:
    """The mapping as it stands, for reports, evidence packs and the API."""
    controls = []
    for control in framework.controls.prefetch_related("evidence"):
        controls.append({
            "ref": control.ref, "title": control.title, "description": control.description,
            "evidence": [{"title": e.title, "query": e.query, "shows": e.shows} for e in control.evidence.all()],
        })
    return {"key": framework.key, "name": framework.name, "version": framework.version,
            "description": framework.description, "based_on": framework.based_on,
            "updated_at": framework.updated_at.isoformat(), "updated_by": framework.updated_by,
            "controls": controls}
