"""Sending over HTTP, and what the answer means for the message.

    result = http_post(url, body, headers={"Content-Type": "application/json"}, timeout=10)
    result.state        # "delivered", "retry" or "failed"
    result.retry_after  # seconds the receiver asked us to wait (429/503 Retry-After), or None

Classification (the same for every channel and destination):
- 2xx: delivered.
- 408, 429 and 5xx, timeouts and connection errors: retryable (the receiver may recover).
- any other answer (4xx, and 3xx: redirects are not followed, a webhook that moved is a
  configuration to fix): failed at once, into the dead letters; retrying would not help.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"
EXCERPT_CHARS = 500
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "audit-console-outbound/1"


@dataclass(frozen=True)
class Result:
    """The outcome of one delivery attempt."""

    state: str
    status: int | None = None
    excerpt: str = ""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.state == DELIVERED


def retry_after_parse(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def result_from_status(status: int, text: str = "", retry_after: str | None = None) -> Result:
    """Classify an HTTP answer (see module docstring)."""
    excerpt = text[:EXCERPT_CHARS]
    if 200 <= status < 300:
        return Result(DELIVERED, status, excerpt)
    if status in (408, 429) or status >= 500:
        return Result(RETRY, status, excerpt, retry_after_parse(retry_after))
    return Result(FAILED, status, excerpt)


def http_post(url: str, body: bytes, *, headers: dict[str, str] | None = None,
              timeout: float = DEFAULT_TIMEOUT) -> Result:
    """POST `body` to `url` and classify the answer; never raises for network trouble."""
    all_headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **(headers or {})}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=all_headers)
    except httpx.TimeoutException as exc:
        return Result(RETRY, None, f"timeout: {exc.__class__.__name__}")
    except httpx.TransportError as exc:
        return Result(RETRY, None, f"connection error: {exc}"[:EXCERPT_CHARS])
    except httpx.InvalidURL as exc:
        return Result(FAILED, None, f"invalid URL: {exc}"[:EXCERPT_CHARS])
    return result_from_status(response.status_code, response.text, response.headers.get("Retry-After"))
