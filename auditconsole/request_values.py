"""Refusing request values that nothing in the console can hold, before any view sees them.

PostgreSQL text cannot hold a NUL character, so a NUL in a path or a query parameter can name
nothing and match nothing; left to the views, it reached the database (or the request's own
audit record) and failed there with a 500. Here it is answered once for every URL: a NUL in
the path is a 404 (no such page or event), in a query parameter a 400 naming the parameter.
API paths get the API's JSON error shape, pages a small page of their own.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from apps.events.errors import error_body, field_error


class RequestValuesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            return _refusal(request, 404, "no such page or event", None)
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "\\u0000")
                return _refusal(request, 400, f"{field} holds a NUL character (\\u0000), which no value may hold", field)
        return self.get_response(request)


def _refusal(request: HttpRequest, status: int, message: str, field: str | None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(message, [field_error(field, message)]), status=status)
    title = "Not found" if status == 404 else "Bad request"
    page = loader.get_template("400.html").render({"title": title, "message": message})
    return HttpResponse(page, status=status)
