"""The reports API's part of /api/v1/openapi.json (merged in by apps.api.openapi)."""
from __future__ import annotations

from apps.reports.models import Format, ReportType
from apps.reports.sections import SECTIONS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {400: "Bad input; `errors` names each field.", 401: "No usable bearer token.",
            403: "The token has no user, or its user may not generate reports.",
            404: "No such report among those this token asked for.", 413: "The body is too large."}
    return {str(code): _json(_ref("Error"), text[code]) for code in codes}


TAGS = [{"name": "reports", "description": "Compliance reports and evidence packs."}]

SCHEMAS = {
    "ReportRequest": {
        "type": "object", "additionalProperties": False, "required": ["report_type"],
        "properties": {
            "report_type": {"type": "string", "enum": [t.value for t in ReportType]},
            "compliance_framework": {"type": "string", "description": "soc2_type2, iso27001_2022, hipaa, pci_dss_4, "
                                     "gdpr, nist_800_53, fedramp_moderate (compliance_audit only)."},
            "date_range": {"type": "object", "properties": {
                "start_date": {"type": "string", "description": "Date or timestamp; a date means from its start."},
                "end_date": {"type": "string", "description": "Date or timestamp, included (a date to its end)."}}},
            "include_sections": {"type": "array", "items": {"type": "string", "enum": list(SECTIONS)}},
            "format": {"type": "string", "enum": [f.value for f in Format]},
            "include_evidence": {"type": "boolean", "description": "Also make a signed evidence pack (ZIP)."},
            "query": {"type": "string", "description": "Only events matching this query (query language)."},
            "subject": {"type": "string", "description": "user_activity: the person's id, email or name."},
            "grouping": {"type": "string", "enum": ["", "user", "resource", "event_type"]},
            "metrics": {"type": "array", "items": {"type": "string",
                                                   "enum": ["event_count", "unique_users", "resources_affected"]}},
            "title": {"type": "string"},
        },
    },
    "Report": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "progress": {"type": "integer"}, "stage": {"type": "string"}, "title": {"type": "string"},
            "report_type": {"type": "string"}, "compliance_framework": {"type": ["string", "null"]},
            "date_range": {"type": "object"}, "format": {"type": "string"}, "include_evidence": {"type": "boolean"},
            "download_url": {"type": "string"}, "sha256": {"type": "string"},
            "evidence_url": {"type": "string"}, "evidence_sha256": {"type": "string"},
            "error": {"type": ["string", "null"]},
            "summary": {"type": "object", "properties": {"events": {"type": "integer"}, "verified": {"type": ["boolean", "null"]}}},
        },
    },
}

PATHS = {
    "/api/v1/reports": {"post": {
        "tags": ["reports"], "operationId": "report_create", "summary": "Ask for a report",
        "description": "Queues a report (seed 004's body). Needs a `read` token issued with `--user` for someone who "
                       "may generate reports; the report shows what that user may see. 202 with `id` and `status`.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ReportRequest")}}},
        "responses": {"202": _json(_ref("Report"), "Queued."), **_errors(400, 401, 403, 413)},
    }},
    "/api/v1/reports/{pk}": {"get": {
        "tags": ["reports"], "operationId": "report_status", "summary": "A report's status and links",
        "parameters": [{"name": "pk", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}],
        "responses": {"200": _json(_ref("Report"), "Status, progress, `download_url` and `evidence_url` when done."),
                      **_errors(401, 403, 404)},
    }},
    "/api/v1/reports/{pk}/{kind}": {"get": {
        "tags": ["reports"], "operationId": "report_file", "summary": "Download a report's file",
        "description": "`kind` is `report` (the asked-for format) or `evidence` (the signed evidence pack). "
                       "The `X-Content-SHA256` header carries the file's digest.",
        "parameters": [{"name": "pk", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
                       {"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": ["report", "evidence"]}}],
        "responses": {"200": {"description": "The file."}, **_errors(401, 403, 404)},
    }},
}
