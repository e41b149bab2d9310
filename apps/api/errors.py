"""Refusals of the API, in the one error shape (apps.events.errors), and its integer parameters."""
from __future__ import annotations

from django.http import JsonResponse

from apps.events.errors import error_body, field_error
from apps.search.params import SearchInvalid, int_param

__all__ = ["error_response", "field_error", "int_param", "SearchInvalid"]


def error_response(status: int, message: str, errors: list[dict] | None = None) -> JsonResponse:
    """A refusal: `status`, with `message` as the summary and `errors` naming each field at fault."""
    return JsonResponse(error_body(message, errors), status=status)
