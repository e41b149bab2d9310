"""Webhook signatures, as receivers verify them.

    X-Audit-Timestamp: <unix seconds>
    X-Audit-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The timestamp is signed with the body so a captured request cannot be replayed later: a
receiver refuses a timestamp older than a few minutes (`webhook_signature_verify(max_age=)`).
"""
from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Audit-Timestamp"
SIGNATURE_HEADER = "X-Audit-Signature"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that sign `body`; no headers when there is no secret."""
    if not secret:
        return {}
    timestamp = str(int(now if now is not None else time.time()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: webhook_signature(secret, timestamp, body)}


def webhook_signature_verify(secret: str, timestamp: str, body: bytes, signature: str, *,
                             max_age: int = 300, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        age = (now if now is not None else time.time()) - int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(age) > max_age:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature or "")
