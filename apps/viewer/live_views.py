"""The live view: a page with the viewer's filters, and the server-sent event stream it reads."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.search import live
from apps.search.filters import EventFilterSet
from apps.viewer.links import viewer_querystring
from apps.rbac.audit_trail import audit_record
from apps.rbac.permissions import requires

# The filters the live view's bar offers (the stream takes every filter of the viewer).
LIVE_FILTERS = ("actor", "action", "outcome", "severity", "category", "project")


@require_GET
@requires("events.view_event", audit_action="audit.events.live")
def live_page(request: HttpRequest) -> HttpResponse:
    filterset = EventFilterSet(request.GET)
    valid = filterset.is_valid()
    audit_record(request=request, action="audit.events.live", resource_type="event_stream",
                 description=f"{request.user.get_username()} opened the live view",
                 metadata={"query": request.GET.dict(), "valid": valid})
    query = viewer_querystring(request.GET, drop=("cursor", "before", "sort", "cols"))
    return render(request, "events/live.html", {
        "form": filterset.form, "filter_fields": [filterset.form[name] for name in LIVE_FILTERS],
        "query_error": filterset.query_error, "valid": valid,
        "filter_errors": [(filterset.form.fields[name].label or name, message)
                          for name, messages in filterset.errors.items() for message in messages],
        "querystring": query,
    })


@require_GET
@requires("events.view_event", audit_action="audit.events.live")
def live_stream(request: HttpRequest) -> HttpResponse:
    """`text/event-stream` of the visible events matching the filters, from Last-Event-ID on.

    A sync view (permission check, trail, compiling the condition use the ORM) returning an
    asynchronous iterator, which the ASGI handler streams without holding a thread, nor, once
    the stream starts, a database connection (live.live_stream reads on the live views'
    shared connections).
    """
    filterset = EventFilterSet(request.GET)
    if not filterset.is_valid():
        return JsonResponse({"errors": {name: list(messages) for name, messages in filterset.errors.items()}}, status=400)
    last_seq = _last_seq(request)
    query = live.live_query(user=request.user, condition=filterset.condition)
    audit_record(request=request, action="audit.events.live.stream", resource_type="event_stream",
                 description=f"{request.user.get_username()} watched the live view",
                 metadata={"query": request.GET.dict(), "resumed_after": last_seq})
    response = StreamingHttpResponse(_without_request_connection(live.live_stream(query, last_seq=last_seq)),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-store"
    # Reverse proxies (nginx) must pass each message on at once, not buffer the stream.
    response["X-Accel-Buffering"] = "no"
    return response


async def _without_request_connection(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """The stream, after closing the request's Django database connection.

    Under ASGI, Django closes a request's connection only when its response ends, which for a
    stream is when the viewer leaves: every open live view would hold one. The view and the
    middleware have finished with the database once the first chunk is asked for, so it is
    closed then. Django's connections belong to the thread that opened them, the request's
    thread of the ASGI handler: `connections.close_all` is run there (sync_to_async keeps to
    the request's thread) and looks the connection up there. (`sync_to_async(connection.close)`
    would not do: the proxy would be resolved here, in the event loop's thread, to another
    thread's connection, and refused.)
    """
    async with aclosing(stream):
        await sync_to_async(connections.close_all)()
        async for chunk in stream:
            yield chunk


def _last_seq(request: HttpRequest) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or ""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None
