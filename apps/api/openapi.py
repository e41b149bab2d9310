"""The OpenAPI 3.1 document of the HTTP API under /api/v1/, served at /api/v1/openapi.json.

Assembled from per-app parts, each a module with `TAGS`, `PATHS` and `SCHEMAS`: the log's
(apps.api.openapi_events: ingest, reads, verification) and the reports' (apps.reports.openapi).
Written out as data rather than generated from the views: the views parse their own requests
(apps.search.params, apps.events.ingest), so there is nothing a generator could read the
shapes from, and a document written by hand says what each parameter means. A test walks the
URL resolver and fails when a route under /api/v1/ is missing here.
"""
from __future__ import annotations

from apps.api import openapi_events
from apps.importers import openapi as importers_openapi
from apps.reports import openapi as reports_openapi
from apps.retention import openapi as retention_openapi

PARTS = (openapi_events, reports_openapi, importers_openapi, retention_openapi)


def openapi_document() -> dict:
    """The document as a dict (JSON-ready): the base, with every part's tags, paths and schemas."""
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Audit console API",
            "version": "1",
            "summary": "Write events into the tamper-evident audit log and read them back.",
            "description": (
                "Bearer tokens (`Authorization: Bearer <token>`) are scoped: `ingest` writes events, `read` and "
                "`auditor` (time-boxed) read them. A token tied to projects sees and writes only those. Errors "
                "are JSON: `{\"error\", \"errors\": [{\"index\", \"field\", \"message\"}]}`. Every read is "
                "recorded in the log itself (category audit)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [],
        "paths": {},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API token made with `manage.py issue_token`."}},
            "schemas": {},
        },
    }
    for part in PARTS:
        document["tags"] += part.TAGS
        document["paths"].update(part.PATHS)
        document["components"]["schemas"].update(part.SCHEMAS)
    # A part may add query parameters to another part's operation: {(path, method): [parameters]}.
    for part in PARTS:
        for (path, method), parameters in getattr(part, "EXTRA_PARAMETERS", {}).items():
            document["paths"][path][method].setdefault("parameters", []).extend(parameters)
    return document


__all__ = ["openapi_document"]
