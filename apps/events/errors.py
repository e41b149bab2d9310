"""The one error shape of the HTTP API.

Every refusal is `{"error": "<summary>", "errors": [{"index", "field", "message", ...}]}`:
`index` is an event's place in an ingest batch (null elsewhere), `field` names the parameter or
field at fault (null when the request as a whole is), query-language errors add where in the
query the fault is. It is defined here, in the lowest layer, because ingest reports its per-item
errors in it; rbac's token checks and every view of apps.api answer with the same shape.
"""
from __future__ import annotations


def field_error(field: str | None, message: str, *, index: int | None = None, **extra) -> dict:
    """One entry of `errors`."""
    return {"index": index, "field": field, "message": message, **extra}


def error_body(message: str, errors: list[dict] | None = None) -> dict:
    """The whole body of a refusal; without `errors`, one entry carrying the message."""
    return {"error": message, "errors": errors or [field_error(None, message)]}
