"""When to try again: exponential backoff with full jitter, never before Retry-After.

Full jitter (a uniform delay between 0 and the exponential ceiling, AWS's "Exponential Backoff
And Jitter") spreads the retries of many messages that failed together, so a receiver that
comes back is not hit by all of them at the same second.
"""
from __future__ import annotations

import random

BASE_SECONDS = 5.0
CAP_SECONDS = 3600.0


def backoff_delay(attempt: int, *, retry_after: float | None = None, base: float = BASE_SECONDS,
                  cap: float = CAP_SECONDS, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first).

    The receiver's Retry-After wins when it asks for longer than the jittered delay (it is
    capped at a day, so a hostile receiver cannot park a message for ever).
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, 86400.0))
    return delay
