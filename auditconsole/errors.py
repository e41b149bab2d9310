"""What the console answers when a request fails unexpectedly (urls.handler500).

Two failures are not faults of the console but of its database, and both are answered
503 Service Unavailable with Retry-After, so that API clients and proxies retry instead of
treating them as a bug:

- a full house: every pooled database connection is busy (long exports, a burst of requests)
  and none came free within DB_POOL_TIMEOUT;
- the database is away (restarting, failed over, unreachable): the connection failed
  (psycopg's "connection refused", AdminShutdown, "server closed the connection";
  apps/events/database_away.py). The pool's timeout during an outage is told apart from a busy
  pool by one quick connection attempt.

Ingest is one transaction, so a request that fails this way stored nothing: a retry is safe.
Everything else keeps Django's plain 500.

Neither page may touch the database (there may be none to be had), so neither renders the
console's layout, which reads the signed-in user.
"""
from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import server_error as django_server_error

from apps.events.database_away import database_answers, is_database_away, is_pool_timeout

RETRY_AFTER_SECONDS = 5
BUSY_MESSAGE = "The console is busy: every database connection is in use. Try again in a few seconds."
UNAVAILABLE_MESSAGE = ("The console's database is unavailable (restarting or unreachable); nothing of this request "
                       "was stored. Try again in a few seconds.")


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if is_pool_timeout(error):
        message = BUSY_MESSAGE if database_answers() else UNAVAILABLE_MESSAGE
    elif is_database_away(error):
        message = UNAVAILABLE_MESSAGE
    else:
        return django_server_error(request)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": message, "errors": [{"index": None, "field": None, "message": message}]}, status=503)
    else:
        title = "Busy" if message == BUSY_MESSAGE else "Database unavailable"
        response = HttpResponse(loader.get_template("503.html").render({"title": title, "message": message}),
                                status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
