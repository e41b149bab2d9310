"""Alert channels: one small module per kind, behind this registry.

A channel module defines:
    KIND, LABEL              its name in the registry and in the UI
    NEEDS                    which of the Channel's fields it uses: "url", "secret", "recipients"
    HELP                     what to paste where, shown on the form
    SENDS                    the alert events it sends: "trigger", "acknowledge", "resolve" ("test" always)
    deliver(channel, payload) -> apps.outbound.http.Result

`payload` is {"event": trigger|acknowledge|resolve|test, "alert": alert_payload(...),
"recipients": [...]}. Every delivery goes through the outbox (apps.outbound), which retries.
Adding a kind is one new module and one line below.
"""
from __future__ import annotations

from apps.alerts.channels import email, pagerduty, slack, teams, webhook

CHANNELS = {module.KIND: module for module in (webhook, slack, teams, pagerduty, email)}


def channel_kind(kind: str):
    """The module of a channel kind, or None."""
    return CHANNELS.get(kind)
