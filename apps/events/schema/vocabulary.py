"""The words of the event schema: categories, outcomes, severities, actor types, limits, and
the snake_case spelling of keys.
"""
from __future__ import annotations

import re
from dataclasses import dataclass



REDACTED = "[REDACTED]"
MAX_TEXT = 10_000
MAX_SHORT_TEXT = 1_000
MAX_TAGS = 100
MAX_DEPTH = 32

CATEGORIES = {
    "auth", "authz", "compute", "network", "storage", "iam", "billing", "config", "data",
    "security", "system", "audit",
}
# The first segment of an action names its category when no category is given; these are the
# usual spellings of the fixed categories in the seeds' event families.
CATEGORY_ALIASES = {
    "authentication": "auth", "login": "auth", "session": "auth", "user": "iam", "role": "iam",
    "permission": "authz", "authorization": "authz", "access": "authz", "policy": "authz",
    "vps": "compute", "vm": "compute", "k8s": "compute", "instance": "compute", "server": "compute",
    "firewall": "network", "vpc": "network", "dns": "network", "bucket": "storage", "volume": "storage",
    "settings": "config", "configuration": "config", "cost": "billing", "budget": "billing",
}

OUTCOMES = {
    "success": "success", "succeeded": "success", "successful": "success", "ok": "success",
    "allowed": "success", "allow": "success", "completed": "success", "true": "success",
    "failure": "failure", "failed": "failure", "fail": "failure", "false": "failure",
    "denied": "denied", "deny": "denied", "blocked": "denied", "forbidden": "denied",
    "unauthorized": "denied", "rejected": "denied",
    "error": "error", "errored": "error",
    "unknown": "unknown",
}
SEVERITIES = {
    "info": "info", "informational": "info", "debug": "info", "default": "info", "notice": "low",
    "low": "low", "medium": "medium", "moderate": "medium", "warning": "medium", "warn": "medium",
    "high": "high", "error": "high", "critical": "critical", "alert": "critical",
    "emergency": "critical", "fatal": "critical",
}
ACTOR_TYPES = {"user", "service", "system", "api_key"}

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z][a-z])")
_ACTION = re.compile(r"^[a-z0-9_:/\-]+(\.[a-z0-9_:/\-]+)*$")


def snake(key: str) -> str:
    """camelCase or PascalCase → snake_case (`eventId` → `event_id`, `ipAddress` → `ip_address`)."""
    if not isinstance(key, str):
        return key
    name = _SNAKE.get(key)
    if name is None:
        if len(_SNAKE) >= _CACHED_KEYS:
            _SNAKE.clear()
        name = _SNAKE[key] = _CAMEL.sub(lambda m: "_" + (m.group(1) or m.group(2)), key).lower().replace("-", "_")
    return name


# Event keys repeat from one event to the next, so their spellings (and whether they are
# sensitive) are worth remembering, in plain dicts: a lookup in one costs a fraction of a call
# through lru_cache. The bound keeps a stream of unique keys from growing them without limit.
_CACHED_KEYS = 4096
_SNAKE: dict[str, str] = {}


@dataclass
class FieldError(Exception):
    field: str
    message: str
