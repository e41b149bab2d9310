"""Refused changes: the rules of separation of duties, and how a refusal is recorded."""
from __future__ import annotations

from functools import wraps

from django.db import transaction

from apps.rbac.audit_trail import audit_record


class AccessRefused(Exception):
    """A change of access that a rule refuses; `field` names the form field it is about."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def refusals_recorded(action: str):
    """Run a write in a transaction; when a rule refuses it, record the refusal and re-raise.

    The refusal is recorded after the write's transaction rolled back, so the attempt stays
    in the log while nothing of the change does.
    """

    def decorator(write):
        atomic_write = transaction.atomic(write)

        @wraps(write)
        def wrapper(*, actor, **kwargs):
            try:
                return atomic_write(actor=actor, **kwargs)
            except AccessRefused as refusal:
                audit_record(actor=actor, action=action, outcome="denied",
                             description=f"{actor.label} was refused {action}: {refusal.message}",
                             metadata={"reason": refusal.message, "attempt": _describe(kwargs)})
                raise

        return wrapper

    return decorator


def _describe(kwargs: dict) -> dict:
    """The arguments of a refused write, as plain JSON (users and roles by name)."""
    out = {}
    for key, value in kwargs.items():
        if hasattr(value, "get_username"):
            out[key] = value.get_username()
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple, set)):
            out[key] = [str(item) for item in value]
        else:
            out[key] = str(value)
    return out
