"""Slack incoming webhook: a message with the alert's headline and details.

Slack accepts about one message a second per webhook and answers 429 with Retry-After beyond;
the outbox honours it.
"""
from __future__ import annotations

import json

from apps.alerts.channels._text import headline, lines
from apps.outbound.http import http_post

KIND = "slack"
LABEL = "Slack (incoming webhook)"
NEEDS = ("url",)
HELP = "The incoming webhook URL from your Slack app (https://hooks.slack.com/services/...)."
SENDS = ("trigger",)


def _escape(text: str) -> str:
    # Slack's mrkdwn treats <, > and & as markup; event fields are attacker-controlled.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(payload: dict) -> dict:
    title = _escape(headline(payload))
    details = "\n".join(_escape(line) for line in lines(payload))
    return {
        "text": title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": details}},
        ],
    }


def deliver(channel, payload: dict):
    return http_post(channel.url, json.dumps(message(payload)).encode())
