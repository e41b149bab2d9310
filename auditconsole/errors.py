"""What the console answers when a request fails unexpectedly (urls.handler500).

One failure is not a fault of the console but a full house: every pooled database connection
is busy (long exports, a burst of requests) and none came free within DB_POOL_TIMEOUT. That is
answered 503 Service Unavailable with Retry-After, so that API clients and proxies retry
instead of treating it as a bug. Everything else keeps Django's plain 500.

Neither page may touch the database (there may be none to be had), so neither renders the
console's layout, which reads the signed-in user.
"""
from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import server_error as django_server_error
from psycopg_pool import PoolTimeout

RETRY_AFTER_SECONDS = 5
BUSY_MESSAGE = "The console is busy: every database connection is in use. Try again in a few seconds."


def _is_pool_timeout(error: BaseException | None) -> bool:
    """Whether `error` is, or was raised from, the pool's timeout (Django wraps it)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, PoolTimeout):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_pool_timeout(sys.exc_info()[1]):
        return django_server_error(request)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": BUSY_MESSAGE, "errors": [{"index": None, "field": None, "message": BUSY_MESSAGE}]}, status=503)
    else:
        response = HttpResponse(loader.get_template("503.html").render({"message": BUSY_MESSAGE}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
