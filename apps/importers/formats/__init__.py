"""The foreign formats, one module each, behind this registry.

A format module has NAME, LABEL, HINT and three functions:
- `records(document) -> list | None`: the records one parsed JSON document (a whole file, or
  one line of a JSON Lines file) holds: `{"Records": [...]}`, an array, a single record;
- `looks_like(record) -> bool`: whether a record is of this format (auto-detection, and the
  check that the chosen format is the right one);
- `event_from(record) -> dict`: the event in the shape `normalize_event` accepts, or
  `Refused(reason)`, or `Skipped(reason)` for a record that is not an event of its own.
Optionally `Requests`, a class of which each import makes one, told every record before it
is mapped and able to hold one back until the end of the import (Kubernetes: one event per
request whatever batches or files its stages fall in), and `CSV = True` for a format that
also comes as CSV (read.py hands `records` each row as `{"__csv__": row}`).
Adding a format is one new module and one line below.
"""
from __future__ import annotations

from types import ModuleType

from apps.importers.formats import azure_activity, cloudtrail, entra, gcp, github, kubernetes, okta, otel

FORMATS: dict[str, ModuleType] = {module.NAME: module for module in (
    cloudtrail, gcp, azure_activity, entra, kubernetes, github, okta, otel,
)}


def format_get(name: str) -> ModuleType | None:
    return FORMATS.get((name or "").strip().lower())


def format_choices() -> list[tuple[str, str]]:
    return [(name, module.LABEL) for name, module in FORMATS.items()]


# How many records of a document auto-detection looks at.
DETECT_WINDOW = 10


def format_detect(document) -> list[ModuleType]:
    """The formats whose records `document` (a parsed JSON value) holds: one when it is unambiguous."""
    found = []
    for module in FORMATS.values():
        try:
            records = module.records(document)
            if records and any(module.looks_like(record) for record in records[:DETECT_WINDOW]):
                found.append(module)
        except Exception:  # noqa: BLE001 - hostile input that trips a format's check is not that format
            continue
    return found
