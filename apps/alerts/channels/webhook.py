"""Generic webhook: the alert as JSON, signed (X-Audit-Timestamp, X-Audit-Signature)."""
from __future__ import annotations

import json

from apps.outbound.http import http_post
from apps.outbound.signing import webhook_headers

KIND = "webhook"
LABEL = "Webhook (signed JSON)"
NEEDS = ("url", "secret")
HELP = ("The receiver's URL. The secret signs each request: X-Audit-Signature is sha256=HMAC-SHA256(secret, "
        "X-Audit-Timestamp + '.' + body), in hex.")
SENDS = ("trigger", "acknowledge", "resolve")


def deliver(channel, payload: dict):
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = webhook_headers(channel.secret, body)
    return http_post(channel.url, body, headers=headers)
