"""Microsoft Teams through a Workflows webhook (Office 365 connectors are retired).

Workflows' "When a Teams webhook request is received" trigger takes a message with an Adaptive
Card attachment, not the old MessageCard.
"""
from __future__ import annotations

import json

from apps.alerts.channels._text import headline, lines
from apps.outbound.http import http_post

KIND = "teams"
LABEL = "Microsoft Teams (Workflows)"
NEEDS = ("url",)
HELP = "The HTTP POST URL of a Teams Workflow started by 'When a Teams webhook request is received'."
SENDS = ("trigger",)


def message(payload: dict) -> dict:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": headline(payload), "weight": "Bolder", "size": "Medium", "wrap": True},
            *({"type": "TextBlock", "text": line, "wrap": True, "spacing": "None"} for line in lines(payload)),
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open the alert", "url": payload["alert"]["url"]}],
    }
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def deliver(channel, payload: dict):
    return http_post(channel.url, json.dumps(message(payload)).encode())
