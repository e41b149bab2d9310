"""The retention API's part of /api/v1/openapi.json (merged in by apps.api.openapi)."""
from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ID = {"name": "pk", "in": "path", "required": True, "schema": {"type": "integer"}}
_ERRORS = {
    "400": _json(_ref("Error"), "Bad input; `errors[].field` names the field (hot_days, warm_days, event_types...)."),
    "401": _json(_ref("Error"), "No usable bearer token."),
    "403": _json(_ref("Error"), "The token's user does not hold rbac.view_retention / rbac.manage_retention."),
}

SCHEMAS = {
    "RetentionPolicy": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "name": {"type": "string"},
            "default": {"type": "boolean", "readOnly": True},
            "event_types": {"type": "array", "items": {"type": "string"},
                            "description": "Actions (`resource.delete`) or prefixes (`authentication.*`); "
                                           "the most specific pattern matching an event wins."},
            "hot_days": {"type": "integer", "minimum": 1},
            "warm_days": {"type": "integer", "description": "Age at which warm ends; not less than hot_days."},
            "cold_months": {"type": "integer", "minimum": 0, "description": "Age at which the segment file is "
                                                                             "deleted; 0: at the end of warm."},
            "cold_years": {"type": "integer", "writeOnly": True, "description": "Seed 001's spelling: cold_months / 12."},
            "delete_after_days": {"type": "integer", "readOnly": True},
        },
    },
    "VaultLock": {
        "type": "object",
        "properties": {"locked": {"type": "boolean"}, "locked_at": {"type": "string", "format": "date-time"},
                       "locked_by": {"type": "string"}},
    },
}

PATHS = {
    "/api/v1/retention/policies": {
        "get": {"tags": ["retention"], "summary": "Retention policies", "operationId": "retention_policy_list",
                "responses": {"200": _json({"type": "object", "properties": {
                    "policies": {"type": "array", "items": _ref("RetentionPolicy")},
                    "vault_locked": {"type": "boolean"}}}, "The policies."), **_ERRORS}},
        "post": {"tags": ["retention"], "summary": "Create a retention policy (recorded in the chained log)",
                 "operationId": "retention_policy_create",
                 "requestBody": {"content": {"application/json": {"schema": _ref("RetentionPolicy")}}},
                 "responses": {"201": _json(_ref("RetentionPolicy"), "Created."), **_ERRORS}},
    },
    "/api/v1/retention/policies/{pk}": {
        "get": {"tags": ["retention"], "summary": "One retention policy", "operationId": "retention_policy_get",
                "parameters": [_ID],
                "responses": {"200": _json(_ref("RetentionPolicy"), "The policy."), **_ERRORS}},
        "post": {"tags": ["retention"], "summary": "Change a policy (the fields sent); under the vault lock periods "
                                                  "only lengthen", "operationId": "retention_policy_update",
                 "parameters": [_ID],
                "requestBody": {"content": {"application/json": {"schema": _ref("RetentionPolicy")}}},
                "responses": {"200": _json(_ref("RetentionPolicy"), "Changed."), **_ERRORS}},
    },
    "/api/v1/retention/lock": {
        "get": {"tags": ["retention"], "summary": "The vault lock", "operationId": "retention_lock_get",
                "responses": {"200": _json(_ref("VaultLock"), "Whether the vault is locked."), **_ERRORS}},
        "post": {"tags": ["retention"], "summary": "Lock the vault for good (Immutable Vault Mode)",
                 "operationId": "retention_lock",
                 "responses": {"200": _json(_ref("VaultLock"), "Locked."), **_ERRORS}},
    },
    "/api/v1/retention/unlock": {
        "post": {"tags": ["retention"], "summary": "Always refused: the lock cannot be lifted",
                 "operationId": "retention_unlock",
                 "responses": {"409": _json(_ref("Error"), "Refused, and the attempt recorded."), **_ERRORS}},
    },
}

TAGS = [{"name": "retention", "description": "Retention policies and the vault lock."}]

# `include_archive` on the list (apps.api.openapi adds it to GET /api/v1/audit-logs).
_INCLUDE_ARCHIVE = {
    "name": "include_archive", "in": "query", "required": False, "schema": {"type": "boolean"},
    "description": "Also search warm (archived) events, with the same filters and visibility; archived results "
                   "carry `archived: true`. Pages by offset.",
}
EXTRA_PARAMETERS = {("/api/v1/audit-logs", "get"): [_INCLUDE_ARCHIVE]}
