"""What a destination kind is, and what one delivery attempt comes back with."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"
JSON_FORMATS = ("jsonl", "ocsf")
TEXT_FORMATS = ("cef", "leef", "syslog")


@dataclass(frozen=True)
class ConfigField:
    """One plain setting of a kind, shown in the destination form."""

    name: str
    label: str
    required: bool = True
    help: str = ""
    type: str = "text"          # text, url, int, bool, choice
    default: object = ""
    choices: tuple = ()


@dataclass
class Outcome:
    """The result of sending one batch.

    The first `acked` events were acknowledged (the cursor moves past them); `dead` lists the
    indexes among them that the receiver refused for good, with (status, response). When
    `state` is RETRY the rest is sent again after a backoff (never before `retry_after`); when
    FAILED the whole batch was refused for good (so it is all in `dead` too).
    """

    state: str
    acked: int = 0
    dead: list[tuple[int, int | None, str]] = field(default_factory=list)
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class Batch:
    """What a kind sends: the events (seq order) and each one rendered in the destination's format."""

    events: list
    records: list[str]


@dataclass(frozen=True)
class DestinationKind:
    name: str
    label: str
    description: str
    fields: tuple[ConfigField, ...]
    send: Callable  # send(destination, batch) -> Outcome
    formats: tuple[str, ...] = JSON_FORMATS
    default_format: str = "jsonl"
    secret_label: str = ""
    secret_required: bool = False
    max_events: int = 500
    max_bytes: int = 5_000_000


def json_array(records: list[str]) -> bytes:
    """Records that are JSON objects, as one JSON array (no parse and dump again)."""
    return ("[" + ",".join(records) + "]").encode()


def whole_batch(outcome_state: str, count: int, status: int | None, detail: str,
                retry_after: float | None = None) -> Outcome:
    """An answer for the whole request: all acknowledged, all to retry, or all refused for good."""
    if outcome_state == DELIVERED:
        return Outcome(DELIVERED, acked=count, status=status, detail=detail)
    if outcome_state == RETRY:
        return Outcome(RETRY, acked=0, status=status, detail=detail, retry_after=retry_after)
    return Outcome(FAILED, acked=count, dead=[(i, status, detail) for i in range(count)], status=status, detail=detail)
