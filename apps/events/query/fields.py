"""The fields a query can name: the registry the compiler reads and the UI lists.

Each field has a canonical name (the event's field name from DESIGN.md, or the dotted name
of the seeds' nested form), the aliases users reach for (`event_type`, `status`, `user`,
`source_ip`, ...), a kind that decides which operators and values it takes, and the columns
it reads. Dotted names that are not fields reach into the event's JSON: `metadata.<path>`,
`changes.<path>`, and the nested keys ingest keeps in metadata under their original path
(`resource.tags.Environment`, `actor.department`, `action.operation`).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from apps.events.query.errors import QueryError
from apps.events.query.nodes import FieldName
from apps.events.schema import CATEGORY_ALIASES, OUTCOMES, SEVERITIES, snake

KINDS = ("text", "action", "time", "ip", "int", "array", "json")

SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Field:
    """One searchable field.

    kind: text | action | time | ip | int | array | json.
    case: how text is compared: "exact", "insensitive", or "lower"/"upper" (the column is
    stored in that case, so the value is folded and an index stays usable).
    contains: `field:value` finds the value anywhere in the text (long free-text columns).
    choices: accepted spellings → stored value (outcome, severity); other values are refused.
    """

    name: str
    kind: str
    columns: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    help: str = ""
    case: str = "exact"
    contains: bool = False
    choices: dict[str, str] | None = field(default=None, compare=False, repr=False)
    # For json fields: the column holding the document and the path inside it.
    path: tuple[str, ...] = ()

    @property
    def operators(self) -> tuple[str, ...]:
        """The operators the field takes, for the UI's help."""
        base = (":", "=", "!=", "IN", "NOT IN")
        if self.kind in ("time", "int", "json") or self.name == "severity":
            base += (">", ">=", "<", "<=", "..")
        if self.kind in ("text", "action", "ip", "json", "array"):
            base += ("LIKE", "NOT LIKE")
        return base

    @property
    def values(self) -> tuple[str, ...]:
        """The stored values of an enumerated field (outcome, severity), else empty."""
        return tuple(dict.fromkeys(self.choices.values())) if self.choices else ()

    @property
    def label(self) -> str:
        """The name as written in a query (json fields with their path)."""
        if self.kind == "json" and self.path:
            return ".".join((self.columns[0],) + self.path)
        return self.name


FIELDS: tuple[Field, ...] = (
    Field("occurred_at", "time", ("occurred_at",),
          ("timestamp", "time", "created", "created_at", "date", "occurred"),
          "When it happened: `time = last 24h`, `timestamp:>now-15m`, `created:2026-01-01..2026-01-31`, `time = all`."),
    Field("received_at", "time", ("received_at",), ("received",), "When the log stored it."),
    Field("action", "action", ("action",), ("event_type", "event", "action_type"),
          "Dotted action, lower case: `action:iam.role.update`, `event_type:policy.*`, `action LIKE compute.servers.delete`. "
          "`authentication.` and `auth.` are one family, as are `authorization.` and `authz.`: either spelling finds both."),
    Field("category", "text", ("category",), (),
          "auth, authz, compute, network, storage, iam, billing, config, data, security, system, audit "
          "(`category:cost` also finds billing, as cost.* actions are filed there).", case="lower"),
    Field("outcome", "text", ("outcome",), ("status", "result", "action.status"),
          "success, failure, denied, error, unknown (and their synonyms: failed, blocked, ok, ...).",
          case="lower", choices=OUTCOMES),
    Field("severity", "text", ("severity",), ("level",),
          "info, low, medium, high, critical; compares in that order: `severity:>=high`.",
          case="lower", choices=SEVERITIES),
    Field("actor", "text", ("actor_id", "actor_name", "actor_email"), ("user", "who"),
          "Who did it: matches the actor's id, name or email, ignoring case.", case="insensitive"),
    Field("actor.id", "text", ("actor_id",), ("actor_id", "user_id", "user.id"), case="insensitive"),
    Field("actor.name", "text", ("actor_name",), ("actor_name", "user.name", "user_name", "username"), case="insensitive"),
    Field("actor.email", "text", ("actor_email",), ("actor_email", "email", "user.email", "user_email"), case="insensitive"),
    Field("actor.type", "text", ("actor_type",), ("actor_type", "user.type"), "user, service, system, api_key.", case="lower"),
    Field("auth_method", "text", ("auth_method",), ("actor.auth_method", "authentication_method", "auth"),
          "password, saml, oidc, token, mfa, system.", case="lower"),
    Field("ip_address", "ip", ("ip_address",),
          ("ip", "source_ip", "src_ip", "client_ip", "actor.ip_address", "actor.ip", "remote_addr"),
          "Source IP: an address, a CIDR block (`10.0.0.0/8`) or a wildcard (`203.0.113.*`)."),
    Field("user_agent", "text", ("user_agent",), ("actor.user_agent", "ua"), "Found anywhere in the user agent.",
          case="insensitive", contains=True),
    Field("session_id", "text", ("session_id",), ("actor.session_id", "session")),
    Field("resource", "text", ("resource_id", "resource_name"), ("target", "object"),
          "The resource's id or name, ignoring case.", case="insensitive"),
    Field("resource.type", "text", ("resource_type",), ("resource_type",)),
    Field("resource.id", "text", ("resource_id",), ("resource_id",)),
    Field("resource.name", "text", ("resource_name",), ("resource_name",), case="insensitive"),
    Field("project", "text", ("project",), ("project_id", "resource.project")),
    Field("region", "text", ("region",), ("resource.region", "location"), case="insensitive"),
    Field("request_method", "text", ("request_method",), ("method", "http_method", "request.method"),
          "GET, POST, PUT, PATCH, DELETE, ...", case="upper"),
    Field("request_path", "text", ("request_path",), ("path", "request.path", "url")),
    Field("status_code", "int", ("status_code",), ("http_status", "request.status_code", "response_code"),
          "HTTP status of an API call: `status_code:>=500`, `status_code:4xx`."),
    Field("trace_id", "text", ("trace_id",), ("trace", "correlation_id")),
    Field("request_id", "text", ("request_id",), ("request.id",)),
    Field("tags", "array", ("tags",), ("tag",), "The event has this tag: `tags:budget`."),
    Field("description", "text", ("description",), ("message", "summary", "msg"),
          "Found anywhere in the description.", case="insensitive", contains=True),
    Field("event_id", "text", ("event_id",), ("id",)),
    Field("seq", "int", ("seq",), ("sequence",), "Position in the chain."),
    Field("metadata", "json", ("metadata",), (),
          "`metadata.<path>`: a key of the event's metadata, e.g. `metadata.newSpec:performance-4`. "
          "Nested keys kept from the event as sent are reachable by their own path: `resource.tags.Environment:production`."),
    Field("changes", "json", ("changes",), (), "`changes.<path>`: the before/after of a mutation, e.g. `changes.after.state:stopped`."),
)

_BY_NAME: dict[str, Field] = {name: f for f in FIELDS for name in (f.name, *f.aliases)}

# Roots of the nested forms the seeds send; ingest keeps their keys without a column in
# metadata under the same path, so `actor.department` means metadata.actor.department.
NESTED_ROOTS = frozenset(name.split(".", 1)[0] for name in _BY_NAME if "." in name) | {
    "action", "request", "details", "outcome", "status", "result",
}

_JSON_COLUMNS = ("metadata", "changes")


def field_get(name: FieldName) -> Field:
    """The field a query names; QueryError, with close matches, when there is none."""
    text = name.text
    key = _key(text)
    found = _BY_NAME.get(key)
    if found is not None and found.kind != "json":
        return found
    segments = text.split(".")
    if any(segment == "" for segment in segments):
        raise QueryError(f"'{text}' is not a field name", name.position, end=name.end)
    root = _key(segments[0])
    if root in _JSON_COLUMNS:
        if len(segments) == 1:
            raise QueryError(
                f"name a key inside {root}, e.g. {root}.region (the whole document cannot be compared)",
                name.position, end=name.end,
            )
        column = next(f for f in FIELDS if f.name == root)
        return replace(column, path=tuple(segments[1:]))
    if len(segments) > 1 and (root in NESTED_ROOTS or not _close_matches(segments[0])):
        metadata = next(f for f in FIELDS if f.name == "metadata")
        return replace(metadata, path=tuple(segments))
    suggestions = _close_matches(text) or _close_matches(segments[0])
    message = f"unknown field '{text}'"
    if suggestions:
        message += "; did you mean " + " or ".join(suggestions) + "?"
    message += f" (for a key in the event's metadata, write metadata.{text})"
    raise QueryError(message, name.position, end=name.end)


def _key(text: str) -> str:
    # Field names are matched ignoring case and camelCase (`eventType` is event_type); the
    # path inside a JSON document keeps its case, since JSON keys are case-sensitive.
    return ".".join(snake(part) for part in text.split("."))


def _close_matches(text: str) -> list[str]:
    names = sorted(_BY_NAME)
    matches = difflib.get_close_matches(_key(text), names, n=3, cutoff=0.7)
    return [f"'{name}'" for name in matches]


# Actions are written by their families' short names (`auth.login`, `authz.check`); the seeds
# spell the family out (`authentication.login`). The first segment of an action in a query also
# finds the other spelling: `event_type:authentication.login` finds auth.login, `auth.*` finds
# authentication.* too.
ACTION_SYNONYMS = {"authentication": "auth", "authorization": "authz", "auth": "authentication", "authz": "authorization"}


def action_synonym(text: str) -> str | None:
    """The same action with its family spelled the other way (`authentication.login` → `auth.login`), or None."""
    head, dot, rest = text.partition(".")
    other = ACTION_SYNONYMS.get(head.lower())
    return other + dot + rest if other and dot else None


def category_values(value: str) -> tuple[str, ...]:
    """A category and the category it is filed under: `cost` → (cost, billing)."""
    value = value.lower()
    alias = CATEGORY_ALIASES.get(value)
    return (value, alias) if alias and alias != value else (value,)


def fields_help() -> list[dict]:
    """The registry as plain data, for the UI's field list and the API's documentation."""
    return [
        {
            "name": f.label if f.kind != "json" else f"{f.name}.<path>",
            "aliases": list(f.aliases),
            "kind": f.kind,
            "operators": list(f.operators),
            "values": list(f.values),
            "help": f.help,
        }
        for f in FIELDS
    ]


__all__ = ["ACTION_SYNONYMS", "FIELDS", "KINDS", "SEVERITY_ORDER", "Field", "action_synonym", "category_values", "field_get", "fields_help"]
