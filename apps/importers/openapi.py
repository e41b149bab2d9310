"""The importers' part of /api/v1/openapi.json (merged in by apps.events.openapi until apps/api exists)."""
from __future__ import annotations

from apps.importers.formats import FORMATS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


TAGS: list[dict] = []  # its operation is under the log's "ingest" tag

SCHEMAS = {
    "ImportSummary": {
        "type": "object",
        "properties": {
            "format": {"type": "string", "description": "The format asked for (`auto` when detected per file)."},
            "files": {"type": "object", "additionalProperties": {"type": "string"},
                      "description": "Each file read and the format it was read as."},
            "read": {"type": "integer", "description": "Records read."},
            "imported": {"type": "integer", "description": "Events stored by this call."},
            "duplicates": {"type": "integer", "description": "Records already stored (a repeated import stores nothing new)."},
            "skipped": {"type": "integer", "description": "Records that are not events of their own (a Kubernetes RequestReceived stage)."},
            "refused": {"type": "integer", "description": "Records that could not be mapped; each is in `problems`."},
            "conflicts": {"type": "integer", "description": (
                "Records whose event id is already taken by another stored event with other content (the same record "
                "imported before under another project, or an event sent with that id): not stored, each in `problems`, "
                "as POST /api/v1/events answers 409 for one; nothing of the other event is shown.")},
            "problems": {"type": "array", "items": {"type": "object", "properties": {
                "file": {"type": "string"}, "where": {"type": "string", "description": "`line 12`, `record 5`, `line 3, record 2`."},
                "reason": {"type": "string"}}}},
            "error": {"type": "string", "description": "With 400: why nothing of the body could be read."},
        },
    },
}

PATHS = {
    "/api/v1/import/{format}": {"post": {
        "tags": ["ingest"], "operationId": "import_file", "summary": "Import another system's audit log",
        "description": (
            "The body is a file of a foreign audit log, sent as it is: AWS CloudTrail (`{\"Records\": [...]}`, an "
            "array or JSON Lines), GCP Cloud Audit Logs, Kubernetes audit (`audit.k8s.io` events, one per line), "
            "Okta System Log, and the other formats listed; gzip is recognised from its first bytes. `auto` tells "
            "the format from the content. Each record is mapped onto the event schema, the source's own fields kept "
            "in `metadata` under their original paths. The event_id comes from the source's id and a digest of the "
            "record, so sending the same file again stores nothing new (`duplicates`). Records that cannot be mapped "
            "are listed in `problems` and the others are stored; records of category `audit` or `audit.*` actions "
            "are refused. A token limited to projects writes only to those (name one with `project`)."
        ),
        "parameters": [
            {"name": "format", "in": "path", "required": True,
             "schema": {"type": "string", "enum": ["auto", *FORMATS]}},
            {"name": "project", "in": "query", "required": False,
             "description": "Store every event under this project (else the source's account or project).",
             "schema": {"type": "string", "maxLength": 200}},
        ],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {}}, "application/x-ndjson": {"schema": {}},
            "text/csv": {"schema": {"type": "string"}}, "application/gzip": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {
            "202": _json(_ref("ImportSummary"), "Read and imported; refused records are listed in `problems`."),
            "400": _json(_ref("ImportSummary"), "An unknown format or project, or a body of which nothing could be read "
                                                "(not JSON, truncated, binary, another format than the one named)."),
            "401": _json(_ref("Error"), "No bearer token, or an unknown, revoked or expired one."),
            "403": _json(_ref("Error"), "The token's scope is not `ingest`."),
            "413": _json(_ref("Error"), "The body is too large; import large files with `manage.py import_events`."),
        },
    }},
}
