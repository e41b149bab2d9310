"""The seeds' nested shapes: `actor{}`, `resource{}`, `request{}`, `details`, and columns given
under other names at the top level or in `metadata`.
"""
from __future__ import annotations



from apps.events.schema.values import _Event, _json_value, _pick, _snaked, _tags, _text
from apps.events.schema.vocabulary import snake

# Columns an event may give at its top level, each under any of these names (the first wins).
_TOP_LEVEL_COLUMNS = (
    ("auth_method", ("auth_method", "authentication_method")),
    ("ip_address", ("ip_address", "ip", "source_ip", "source_ip_address", "client_ip", "remote_addr")),
    ("user_agent", ("user_agent",)),
    ("session_id", ("session_id",)),
    ("project", ("project", "project_id")),
    ("region", ("region",)),
    ("trace_id", ("trace_id", "correlation_id")),
    ("request_id", ("request_id",)),
    ("description", ("description", "message", "summary")),
)


# The columns a nested actor object gives, each under any of these names (the first wins).
_ACTOR_COLUMNS = (
    ("actor_type", ("type", "actor_type", "kind")),
    ("actor_id", ("id", "user_id", "actor_id", "uid", "username")),
    ("actor_name", ("name", "display_name", "username", "alternate_id")),
    ("actor_email", ("email", "email_address", "principal_email")),
    ("ip_address", ("ip_address", "ip", "source_ip")),
    ("user_agent", ("user_agent",)),
    ("session_id", ("session_id",)),
    ("auth_method", ("auth_method", "authentication_method")),
)
# The same for a nested resource object.
_RESOURCE_COLUMNS = (
    ("resource_type", ("type", "resource_type", "kind")),
    ("resource_id", ("id", "resource_id", "arn", "uid")),
    ("resource_name", ("name", "resource_name", "display_name")),
    ("region", ("region", "location")),
    ("project", ("project", "project_id")),
)


def _take_nested(obj: dict, prefix: str, columns, out: _Event) -> None:
    """The columns of a nested `actor` or `resource` object (first spelling given wins); its other
    keys kept in metadata under their original path (`resource.tags.Environment`)."""
    nested, originals = _snaked(obj)
    for column, names in columns:
        for name in names:  # _pick, inline
            if name in nested:
                value = nested.pop(name)
                if value is not None:
                    out.set(column, value)
                break
    for key, value in nested.items():
        out.keep((prefix, originals[key]), _json_value(value, f"{prefix}.{originals[key]}", 0, out.sensitive))


def _take_actor(body: dict, out: _Event) -> None:
    actor, _ = _pick(body, "actor", "user_identity", "principal")
    if isinstance(actor, dict):
        _take_nested(actor, "actor", _ACTOR_COLUMNS, out)
    elif actor is not None:
        text = _text(actor, "actor")
        out.set("actor_email" if "@" in text else "actor_id", text)
    for column, names in (
        ("actor_type", ("actor_type",)),
        ("actor_id", ("actor_id", "user_id", "user", "username")),
        ("actor_name", ("actor_name", "user_name")),
        ("actor_email", ("actor_email", "user_email", "email")),
    ):
        value, _ = _pick(body, *names)
        if value is not None:
            out.set(column, value)
    # 003 names the actor by email in `name`: treat an address as the email when none is given.
    name = out.fields.get("actor_name")
    if isinstance(name, str) and "@" in name and not out.fields.get("actor_email"):
        out.fields["actor_email"] = name


def _take_resource(body: dict, out: _Event) -> None:
    resource, _ = _pick(body, "resource", "target", "object_ref")
    if isinstance(resource, dict):
        _take_nested(resource, "resource", _RESOURCE_COLUMNS, out)
    elif resource is not None:
        if isinstance(resource, list):
            out.keep(("resource",), _json_value(resource, "resource", 0, out.sensitive))
        else:
            out.set("resource_id", _text(resource, "resource"))
    for column in ("resource_type", "resource_id", "resource_name"):
        value, _ = _pick(body, column)
        if value is not None:
            out.set(column, value)


def _take_request(body: dict, out: _Event) -> None:
    request, _ = _pick(body, "request", "http_request")
    if isinstance(request, dict):
        nested = {snake(k): (k, v) for k, v in request.items()}
        for column, names in (
            ("request_method", ("method", "request_method")),
            ("request_path", ("path", "url", "request_path", "request_url")),
            ("status_code", ("status_code", "status")),
            ("request_id", ("id", "request_id")),
        ):
            for candidate in names:
                if candidate in nested:
                    out.set(column, nested.pop(candidate)[1])
                    break
        for key, (original, value) in nested.items():
            out.keep(("request", original), _json_value(value, f"request.{original}", 0, out.sensitive))
    elif request is not None:
        out.keep(("request",), _json_value(request, "request", 0, out.sensitive))
    for column, names in (
        ("request_method", ("request_method", "http_method")),
        ("request_path", ("request_path", "path", "http_path")),
        ("status_code", ("status_code", "http_status", "response_code")),
    ):
        value, _ = _pick(body, *names)
        if value is not None:
            out.set(column, value)


# Keys that seeds put inside metadata although they have a column of their own.
_LIFTED = {
    "tags": "tags", "ip_address": "ip_address", "ip": "ip_address", "source_ip": "ip_address",
    "request_id": "request_id", "trace_id": "trace_id", "user_agent": "user_agent",
    "session_id": "session_id", "auth_method": "auth_method",
}


def _lift_from_metadata(metadata: dict, out: _Event) -> None:
    for key in list(metadata):
        column = _LIFTED.get(snake(key))
        if column is None or out.fields.get(column):
            continue
        value = metadata[key]
        if column == "tags":
            out.set("tags", _tags(value, f"metadata.{key}"))
        elif isinstance(value, str):
            out.set(column, value)
        else:
            continue
        del metadata[key]


def _lift_from_details(out: _Event) -> None:
    # 004 keeps the auth method in `details` (top level or inside metadata, both end up in
    # out.metadata); copy it to its column, leave details whole.
    details = out.metadata.get("details")
    if isinstance(details, dict) and not out.fields.get("auth_method") and isinstance(details.get("auth_method"), str):
        out.set("auth_method", details["auth_method"])
