"""GitHub audit log: the JSON export (an array), the CSV export, and the streaming shape (one
JSON event per line, as GitHub writes to S3, Azure Blob, Splunk or Datadog).

Action: `github.` and GitHub's own action (`repo.create` → `github.repo.create`,
`org.add_member` → `github.org.add_member`); actor from `actor` / `actor_id` (`actor_is_bot`
makes it a service); IP from `actor_ip`; the resource is the repository, else the team,
the user acted on, or the organisation; project is the organisation (`org`). Time from
`@timestamp` or `created_at` (milliseconds since the epoch, or ISO 8601). GitHub records
what happened, so the outcome is success, except actions that name a failure or refusal.
In CSV every value is text; the row is kept in metadata with GitHub's column names.
"""
from __future__ import annotations

from apps.importers.formats.base import Refused, action_part, event_id, ip_or_none, sentence, text

NAME = "github"
LABEL = "GitHub audit log"
HINT = "the audit log export (JSON or CSV) or the streaming shape (one JSON event per line)"
CSV = True

_CATEGORIES = {
    "org": "iam", "team": "iam", "business": "iam", "members_can_create_pages": "config", "oauth_access": "auth",
    "oauth_authorization": "auth", "personal_access_token": "auth", "two_factor_authentication": "auth",
    "user": "auth", "repo": "config", "protected_branch": "config", "repository_ruleset": "config", "hook": "config",
    "integration_installation": "config", "git": "data", "repository_secret_scanning": "security",
    "secret_scanning": "security", "dependabot_alerts": "security", "org_credential_authorization": "auth",
    "workflows": "compute", "environment": "config", "public_key": "auth", "deploy_key": "auth",
}


def records(document) -> list | None:
    if isinstance(document, dict) and "__csv__" in document:
        return [document["__csv__"]]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    return None


def looks_like(record) -> bool:
    if not isinstance(record, dict) or "action" not in record:
        return False
    return "@timestamp" in record or "_document_id" in record or (
        "created_at" in record and isinstance(record.get("actor"), str))


def _time(record: dict):
    value = record.get("@timestamp") or record.get("created_at") or record.get("timestamp")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())  # CSV writes the milliseconds as text
    return value


def event_from(record: dict) -> dict:
    action = text(record.get("action"))
    if not action:
        raise Refused("action is missing: not a GitHub audit log event")
    when = _time(record)
    if when in (None, ""):
        raise Refused("@timestamp (or created_at) is missing")
    actor = text(record.get("actor"))
    bot = str(record.get("actor_is_bot", "")).lower() == "true" or actor.endswith("[bot]")
    repo, team, user, org = (text(record.get(k)) for k in ("repo", "team", "user", "org"))
    resource = ("repository", repo) if repo else ("team", team) if team else ("user", user) if user else ("organization", org) if org else ("", "")
    lowered = action.lower()
    outcome = "denied" if "denied" in lowered or "blocked" in lowered else "failure" if "fail" in lowered else "success"
    prefix = lowered.split(".", 1)[0]
    return {
        "event_id": event_id("github", record.get("_document_id"), record),
        "timestamp": when,
        "action": "github." + ".".join(action_part(p) for p in action.split(".")),
        "category": _CATEGORIES.get(prefix, "config"),
        "outcome": outcome,
        "severity": "info",
        "actor_type": "service" if bot else "user" if actor else "system",
        "actor_id": text(record.get("actor_id")) or actor,
        "actor_name": actor,
        "ip_address": ip_or_none(record.get("actor_ip")),
        "user_agent": text(record.get("user_agent")),
        "auth_method": "token" if record.get("hashed_token") or record.get("programmatic_access_type") else "",
        "resource_type": resource[0],
        "resource_id": resource[1],
        "resource_name": resource[1].rsplit("/", 1)[-1],
        "project": org,
        "request_id": text(record.get("request_id")),
        "description": sentence(actor or "GitHub", action, resource[1]),
        "tags": ["import:github"],
        "metadata": record,
    }
