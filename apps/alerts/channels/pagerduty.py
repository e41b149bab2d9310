"""PagerDuty Events API v2: the alert's dedup key is the incident's, so resolving resolves it."""
from __future__ import annotations

import json

from apps.outbound.http import http_post

KIND = "pagerduty"
LABEL = "PagerDuty (Events API v2)"
NEEDS = ("url", "secret")
HELP = ("The secret is the integration's routing key. Leave the URL empty for "
        "https://events.pagerduty.com/v2/enqueue.")
SENDS = ("trigger", "acknowledge", "resolve")
DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info"}


def event(channel, payload: dict) -> dict:
    alert = payload["alert"]
    action = "trigger" if payload["event"] == "test" else payload["event"]
    body = {"routing_key": channel.secret, "event_action": action, "dedup_key": alert["key"][:255]}
    if action == "trigger":
        body["payload"] = {
            "summary": alert["title"][:1024],
            "source": "audit-console",
            "severity": _SEVERITY.get(alert["severity"], "warning"),
            "timestamp": alert.get("first_event_at") or alert["created_at"],
            "component": alert["rule"],
            "custom_details": {"count": alert["count"], "group": alert.get("group") or {},
                               "first_event_at": alert.get("first_event_at"), "last_event_at": alert.get("last_event_at")},
        }
        body["links"] = [{"href": alert["url"], "text": "Alert in the audit console"},
                         {"href": alert["events_url"], "text": "Matching events"}]
    return body


def deliver(channel, payload: dict):
    return http_post(channel.url or DEFAULT_URL, json.dumps(event(channel, payload)).encode())
