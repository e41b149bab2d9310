"""The log's part of the OpenAPI document: ingest, the reads of apps.search, chain verification.

Data, assembled with the other apps' parts by apps.api.openapi. Its size is the API's surface:
splitting it further would only scatter one table of routes.
"""
from __future__ import annotations

from apps.events.canonical import MAX_SAFE_INTEGER
from apps.search.export import CSV_COLUMNS
from apps.search.params import DEFAULT_LIMIT, EXPORT_FORMATS, MAX_LIMIT, MAX_OFFSET

_TIME_HELP = ("A time: `2026-03-10T14:30:45Z`, `2026-03-10` (the whole day, UTC), `now-24h`, `today`. "
              "No zone means UTC.")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "") -> dict:
    body = {"content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _errors(*codes: int) -> dict:
    text = {
        400: "The request is malformed; `errors` names each bad parameter or key (`field`).",
        401: "No bearer token, or an unknown, revoked or expired one.",
        403: "The token's scope (or its user's role) does not allow this call.",
        404: "No such event, or one outside the token's scope (they answer alike).",
        409: "An event_id of the batch already names another event (other content, perhaps in a project the "
             "token cannot see): each such item is named by `index` with field `event_id`; nothing is stored "
             "and nothing of the other event is revealed.",
        413: "The body is too large.",
        415: "The body is not JSON (send Content-Type application/json or a CloudEvents JSON type).",
    }
    return {str(code): _json(_ref("Error"), text[code]) for code in codes}


def _query_param(name: str, description: str, schema: dict | None = None, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}, **extra}


_STRINGS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}

# `activity`: whose events. The API's default is `all`, unlike the viewer's (apps.search.params).
_ACTIVITY_HELP = ("Whose activity: `systems` (the events systems sent, the console viewer's default), `console` "
                  "(the console's own records of its use: category `audit`, actions `audit.*`: who viewed, "
                  "searched, exported, changed what) or `all` (both). The API's default is `all`: clients "
                  "got every event before this parameter existed, and narrowing their default would drop the "
                  "console's records from their pulls without a word. Any other value is a 400 naming `activity`.")
_ACTIVITY_SCHEMA = {"type": "string", "enum": ["systems", "console", "all"], "default": "all"}

_LIST_PARAMETERS = [
    _query_param("activity", _ACTIVITY_HELP, _ACTIVITY_SCHEMA),
    _query_param("q", "A query in the query language, e.g. "
                      "`event_type:authentication.login AND status:failed AND timestamp:>now-24h`. "
                      "An invalid query is a 400 whose error gives the `position` of the problem."),
    _query_param("range", "A window ending now.", {"type": "string", "enum": ["15m", "1h", "24h", "7d", "30d", "all"]}),
    _query_param("start_date", "From this time on (inclusive). " + _TIME_HELP),
    _query_param("end_date", "Up to this time: a date covers its whole day, a timestamp its second. " + _TIME_HELP),
    _query_param("actor", "The actor's id, name or email, ignoring case; `*` is a wildcard (`*@example.com`)."),
    _query_param("user_id", "The actor's id, ignoring case."),
    _query_param("action", "Exactly this action, or a prefix when it ends with `.` or `*` (`iam.role.*`)."),
    _query_param("event_type", "The action, any action below it, or the category of that name: "
                               "`authentication` finds `authentication.login` and category auth. Comma list allowed."),
    _query_param("category", "auth, authz, compute, network, storage, iam, billing, config, data, security, "
                             "system, audit; comma list or repeated."),
    _query_param("outcome", "success, failure, denied, error, unknown, or a synonym (`failed`, `blocked`); "
                            "comma list or repeated."),
    _query_param("status", "Another name for `outcome` (seed 001)."),
    _query_param("severity", "info, low, medium, high, critical; comma list or repeated."),
    _query_param("resource_type", "Exactly this resource type."),
    _query_param("resource_id", "Exactly this resource id (`*` wildcards allowed)."),
    _query_param("project", "Exactly this project."),
    _query_param("ip", "Source IP: an address, a CIDR block (`10.0.0.0/8`) or a wildcard (`203.0.113.*`)."),
    _query_param("auth_method", "password, saml, oidc, token, mfa, system."),
    _query_param("trace_id", "Exactly this trace id."),
    _query_param("tags", "Any of these tags; comma list or repeated."),
    _query_param("sort", "Newest (`desc`, the default) or oldest (`asc`) first.",
                 {"type": "string", "enum": ["desc", "asc", "newest", "oldest", "-timestamp", "timestamp"]}),
    _query_param("limit", f"Events per page, 1 to {MAX_LIMIT:,}.",
                 {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    _query_param("cursor", "Continue after this cursor (`next_page` carries it)."),
    _query_param("before", "The page before this cursor (newer events, newest first)."),
    _query_param("offset", f"Skip this many events (0 to {MAX_OFFSET:,}); further pages follow the cursor.",
                 {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
]

_FILTERS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "Every filter combines with AND; a list matches any of its values. Each means what the "
                   "same term of the query language means.",
    "properties": {
        "user": {**_STRINGS, "description": "The actor's id, name or email, ignoring case (seed 001)."},
        "actor": {**_STRINGS, "description": "Same as `user`."},
        "user_id": {**_STRINGS, "description": "The actor's id, ignoring case."},
        "action": {**_STRINGS, "description": "Exact action, or a prefix ending in `.` or `*`."},
        "event_type": {**_STRINGS, "description": "The action, an action below it, or the category of that name."},
        "event_types": {**_STRINGS, "description": "Seed 004's list; same as `event_type`."},
        "category": _STRINGS,
        "outcome": {**_STRINGS, "description": "success, failure, denied, error, unknown or a synonym."},
        "status": {**_STRINGS, "description": "Another name for `outcome`: `failed` is failure, `blocked` is denied."},
        "severity": {**_STRINGS, "description": "info, low, medium, high, critical."},
        "resource_type": _STRINGS,
        "resource_id": _STRINGS,
        "project": _STRINGS,
        "ip": {**_STRINGS, "description": "An address, a CIDR block or a wildcard."},
        "auth_method": _STRINGS,
        "trace_id": _STRINGS,
        "tags": {**_STRINGS, "description": "Any of these tags."},
        "date_range": {
            "type": "object", "additionalProperties": False,
            "properties": {"start": {"type": "string", "description": _TIME_HELP},
                           "end": {"type": "string", "description": _TIME_HELP}},
        },
        "actors": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "user_ids": _STRINGS, "emails": _STRINGS, "names": _STRINGS, "types": _STRINGS,
                "ip_addresses": {**_STRINGS, "description": "Addresses, CIDR blocks or wildcards."},
            },
        },
    },
}

_SORT_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "field": {"type": "string", "enum": ["timestamp", "occurred_at", "time"], "default": "timestamp"},
        "order": {"type": "string", "enum": ["asc", "desc"]},
    },
}

_TEXT = {"type": "string"}

_SCHEMAS = {
    "ErrorItem": {
        "type": "object", "required": ["index", "field", "message"],
        "properties": {
            "index": {"type": ["integer", "null"], "description": "The event's place in an ingest batch; null elsewhere."},
            "field": {"type": ["string", "null"], "description": "The parameter or key at fault, e.g. `limit`, "
                                                                 "`filters.actors.user_ids`, `q`."},
            "message": _TEXT,
            "position": {"type": "integer", "description": "Query errors: 0-based offset in the query."},
            "column": {"type": "integer", "description": "Query errors: the same place counted from 1."},
            "end": {"type": "integer", "description": "Query errors: the offset just after the offending part."},
        },
    },
    "Error": {
        "type": "object", "required": ["error", "errors"],
        "properties": {"error": _TEXT, "errors": {"type": "array", "items": _ref("ErrorItem")}},
    },
    "Verification": {
        "type": "object", "required": ["seq", "hash", "prev_hash"],
        "properties": {
            "seq": {"type": "integer", "description": "Position in the chain."},
            "hash": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$",
                     "description": "SHA-256(prev_hash || RFC 8785 JSON of every stored field but the hashes)."},
            "prev_hash": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            "verified": {"type": "boolean", "description": "Search only: the hash recomputes from the event's fields "
                                                           "and prev_hash is the stored hash of the event before it."},
        },
    },
    "AuditLog": {
        "type": "object",
        "properties": {
            "event_id": _TEXT,
            "timestamp": {"type": "string", "format": "date-time", "description": "When it happened (= occurred_at)."},
            "occurred_at": {"type": "string", "format": "date-time"},
            "received_at": {"type": "string", "format": "date-time"},
            "action": {"type": "string", "description": "Dotted, lower case: `iam.role.update`."},
            "category": _TEXT,
            "outcome": {"type": "string", "enum": ["success", "failure", "denied", "error", "unknown"]},
            "severity": {"type": "string", "enum": ["info", "low", "medium", "high", "critical"]},
            "actor": {"type": "object", "properties": {"type": _TEXT, "id": _TEXT, "name": _TEXT, "email": _TEXT}},
            "auth_method": _TEXT,
            "ip_address": {"type": ["string", "null"]},
            "user_agent": _TEXT,
            "session_id": _TEXT,
            "resource": {"type": "object", "properties": {"type": _TEXT, "id": _TEXT, "name": _TEXT}},
            "project": _TEXT,
            "region": _TEXT,
            "request": {"type": "object", "properties": {"method": _TEXT, "path": _TEXT,
                                                         "status_code": {"type": ["integer", "null"]}}},
            "trace_id": _TEXT,
            "request_id": _TEXT,
            "tags": {"type": "array", "items": _TEXT},
            "description": _TEXT,
            "changes": {"type": ["object", "null"], "description": '`{"before": {...}, "after": {...}}`'},
            "metadata": {"type": "object"},
            "verification": _ref("Verification"),
        },
    },
    "AuditLogList": {
        "type": "object", "required": ["total_count", "total_count_exact", "returned_count", "audit_logs", "next_page"],
        "properties": {
            "total_count": {"type": "integer", "description": "Matching events, counted up to 10,000."},
            "total_count_exact": {"type": "boolean", "description": "False when there are more than 10,000."},
            "returned_count": {"type": "integer"},
            "audit_logs": {"type": "array", "items": _ref("AuditLog")},
            "next_page": {"type": ["string", "null"], "description": "The URL of the next page (a cursor), or null."},
        },
    },
    "SearchRequest": {
        "type": "object", "additionalProperties": False,
        "description": "Seed 001's and seed 004's search bodies. Unknown keys are refused (400 naming the key).",
        "properties": {
            "query": {"type": "string", "description": "A query in the query language."},
            "q": {"type": "string", "description": "Another name for `query`."},
            "start_time": {"type": "string", "description": _TIME_HELP},
            "end_time": {"type": "string", "description": _TIME_HELP + " A date covers its whole day."},
            "filters": _ref("SearchFilters"),
            "sort": _SORT_SCHEMA,
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "page": {"type": "integer", "minimum": 1, "default": 1,
                     "description": f"Page by number, up to event {MAX_OFFSET:,}; further, send `cursor`."},
            "cursor": {"type": "string", "description": "`next_page` of the previous answer (same body otherwise)."},
            "include_details": {"type": "boolean", "default": True,
                                "description": "False leaves out changes, metadata and user_agent."},
            "activity": {**_ACTIVITY_SCHEMA, "description": _ACTIVITY_HELP},
        },
    },
    "SearchFilters": _FILTERS_SCHEMA,
    "SearchResponse": {
        "type": "object", "required": ["total_count", "returned_count", "page", "audit_logs", "next_page"],
        "properties": {
            "total_count": {"type": "integer", "description": "Matching events, counted up to 10,000."},
            "total_count_exact": {"type": "boolean"},
            "returned_count": {"type": "integer"},
            "page": {"type": "integer"},
            "audit_logs": {"type": "array", "items": _ref("AuditLog")},
            "next_page": {"type": ["string", "null"],
                          "description": "A cursor: send the same body with `cursor` set to it for the next page."},
        },
    },
    "ExportRequest": {
        "type": "object", "additionalProperties": False, "required": ["format"],
        "properties": {
            "format": {"type": "string", "enum": list(EXPORT_FORMATS),
                       "description": "csv, json, jsonl; cef (ArcSight CEF 0), leef (LEEF 2.0, tab-delimited), syslog "
                                      "(RFC 5424, one message per line), parquet (Apache Parquet, one row group per "
                                      "2,000 events), ocsf (OCSF 1.4.0 JSON Lines: Authentication 3002, Account Change "
                                      "3001, Entity Management 3004 or API Activity 6003 per event); template renders a "
                                      "stored export template (give its id in `template`)."},
            "template": {"type": "integer", "minimum": 1,
                         "description": "With format `template`: the id of an export template you may use (yours, "
                                        "or a shared one)."},
            "query": {"type": "string"},
            "q": {"type": "string"},
            "start_time": {"type": "string", "description": _TIME_HELP},
            "end_time": {"type": "string", "description": _TIME_HELP},
            "filters": _ref("SearchFilters"),
            "sort": {**_SORT_SCHEMA, "description": "Oldest first (chain order) unless said otherwise."},
            "activity": {**_ACTIVITY_SCHEMA, "description": _ACTIVITY_HELP},
        },
    },
    "IngestEvent": {
        "type": "object", "additionalProperties": True,
        "description": "One event in any of the accepted shapes: flat snake_case or camelCase, the nested form of "
                       "seeds 000/001 (`actor{}`, `resource{}`, `action` as a string or `{operation, status, method}`), "
                       "or a CloudEvents 1.0 envelope. Unknown top-level keys are kept in metadata.",
        "properties": {
            "event_id": _TEXT, "timestamp": {"type": "string", "format": "date-time"}, "action": {},
            "event_type": _TEXT, "status": _TEXT, "severity": _TEXT, "actor": {"type": "object"},
            "resource": {"type": "object"}, "changes": {"type": "object"}, "metadata": {"type": "object"},
        },
    },
    "IngestResult": {
        "type": "object", "required": ["accepted", "duplicates", "events"],
        "properties": {
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "events": {"type": "array", "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "event_id": _TEXT, "seq": {"type": "integer"},
                               "hash": _TEXT, "status": {"type": "string", "enum": ["created", "duplicate"]}},
            }},
        },
    },
    "ChainVerification": {
        "type": "object",
        "properties": {
            "valid": {"type": "boolean"}, "first_bad_seq": {"type": ["integer", "null"]},
            "reason": {"type": ["string", "null"]}, "checked": {"type": "integer"},
            "from_seq": {"type": ["integer", "null"]}, "to_seq": {"type": ["integer", "null"]},
            "last_hash": {"type": ["string", "null"]}, "checkpoints_checked": {"type": "integer"},
        },
    },
    "CheckpointList": {
        "type": "object",
        "properties": {
            "public_key_pem": _TEXT, "key_id": _TEXT, "message_format": _TEXT,
            "checkpoints": {"type": "array", "items": {
                "type": "object",
                "properties": {"seq": {"type": "integer"}, "hash": _TEXT, "event_count": {"type": "integer"},
                               "created_at": {"type": "string", "format": "date-time"}, "key_id": _TEXT,
                               "reason": _TEXT, "signature": {"type": "string", "contentEncoding": "base64"}},
            }},
        },
    },
}

_READ = "Needs a `read` or `auditor` token; it sees what its user, projects and window allow."


TAGS = [
    {"name": "ingest", "description": "Writing events."},
    {"name": "audit-logs", "description": "Reading, searching and exporting events."},
    {"name": "chain", "description": "Verifying the hash chain and its signed checkpoints."},
    {"name": "meta", "description": "This document."},
]

PATHS = {
    "/api/v1/events": {"post": {
        "tags": ["ingest"], "operationId": "events_ingest", "summary": "Append events to the log",
        "description": "One event, `{\"events\": [...]}` or a JSON array, up to 1,000. Needs an `ingest` token. "
                       "A bad batch is refused whole with per-item errors; a repeat of a stored event (same event_id, "
                       "same content) is reported as a duplicate, not stored twice; the same event_id with other "
                       "content is a 409 conflict.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            _ref("IngestEvent"),
            {"type": "object", "required": ["events"],
             "properties": {"events": {"type": "array", "items": _ref("IngestEvent"), "minItems": 1, "maxItems": 1000}}},
            {"type": "array", "items": _ref("IngestEvent"), "minItems": 1, "maxItems": 1000},
        ]}}}},
        "responses": {"202": _json(_ref("IngestResult"), "Stored (or reported as duplicates), each with its "
                                                         "seq and hash."),
                      **_errors(400, 401, 403, 409, 413, 415)},
    }},
    "/api/v1/audit-logs": {"get": {
        "tags": ["audit-logs"], "operationId": "audit_logs_list", "summary": "List events with filters",
        "description": _READ + " Newest first; keyset pages (`next_page`). The parameters are the console "
                               "viewer's, so a viewer URL works here; unknown parameters are refused.",
        "parameters": _LIST_PARAMETERS,
        "responses": {"200": _json(_ref("AuditLogList"), "One page."), **_errors(400, 401, 403)},
    }},
    "/api/v1/audit-logs/search": {"post": {
        "tags": ["audit-logs"], "operationId": "audit_logs_search", "summary": "Search events",
        "description": _READ + " Seed 001's and seed 004's bodies; seed 004's answer, each event's "
                               "`verification.verified` checked against its neighbour in the chain.",
        "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("SearchRequest")}}},
        "responses": {"200": _json(_ref("SearchResponse"), "One page."), **_errors(400, 401, 403)},
    }},
    "/api/v1/audit-logs/export": {"post": {
        "tags": ["audit-logs"], "operationId": "audit_logs_export", "summary": "Export every matching event",
        "description": _READ + " A token acting for a user also needs the export permission (not held by "
                               "Compliance Officers or External Auditors). Streamed: every matching event, not a "
                               "page, as a file named after the period and the query. CSV columns: "
                               + ", ".join(CSV_COLUMNS) + " (tags, changes and metadata as JSON; cells "
                               "starting with =, +, -, @, tab or CR are prefixed with ').",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ExportRequest")}}},
        "responses": {
            "200": {
                "description": "The file, streamed.",
                "headers": {"Content-Disposition": {
                    "schema": {"type": "string"},
                    "description": "`attachment; filename=\"audit-logs_<from>_<to>[_<query>].<ext>\"`"}},
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "array", "items": _ref("AuditLog")}},
                    "application/x-ndjson": {"schema": {"type": "string",
                                                        "description": "One AuditLog object per line (jsonl), "
                                                                       "or one OCSF event per line (ocsf)."}},
                    "text/plain": {"schema": {"type": "string",
                                              "description": "cef, leef and syslog: one event per line."}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **_errors(400, 401, 403),
        },
    }},
    "/api/v1/audit-logs/{event_id}": {"get": {
        "tags": ["audit-logs"], "operationId": "audit_log_get", "summary": "One event",
        "description": _READ,
        "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("AuditLog"), "The event."), **_errors(401, 403, 404)},
    }},
    "/api/v1/verify": {"get": {
        "tags": ["chain"], "operationId": "chain_verify", "summary": "Verify the hash chain",
        "description": "Recomputes the chain over a seq range (default: all) and names the first seq that "
                       "does not match. Needs a `read` or `auditor` token not limited to projects.",
        "parameters": [
            _query_param("from_seq", "First seq to check.", {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}),
            _query_param("to_seq", "Last seq to check.", {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}),
        ],
        "responses": {"200": _json(_ref("ChainVerification"), "The outcome."), **_errors(400, 401, 403)},
    }},
    "/api/v1/checkpoints": {"get": {
        "tags": ["chain"], "operationId": "checkpoint_list", "summary": "Signed checkpoints",
        "description": "The signed checkpoints and the Ed25519 public key, for verifying exports offline. "
                       "Needs a `read` or `auditor` token not limited to projects.",
        "responses": {"200": _json(_ref("CheckpointList"), "The latest 1,000 checkpoints."),
                      **_errors(401, 403)},
    }},
    "/api/v1/openapi.json": {"get": {
        "tags": ["meta"], "operationId": "openapi", "summary": "This document",
        "description": "Public: it describes the API and holds no data.",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
}

SCHEMAS = _SCHEMAS
