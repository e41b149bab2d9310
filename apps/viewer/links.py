"""The viewer's links: paging and sorting that keep the rest of the URL, and pivots from an event.

Every state of the viewer is a URL (shareable, bookmarkable, works without JavaScript), so
these build query strings rather than keep anything in the session.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.urls import reverse

from apps.events.chain import format_time
from apps.events.models import Event
from apps.search.filters import PAGING, viewer_querystring  # noqa: F401 (the viewer's links use both)

def viewer_url(**params) -> str:
    """/events/ with these filter parameters (a pivot)."""
    pairs = [(key, value) for key, value in params.items() if value not in (None, "")]
    return reverse("events:list") + ("?" + urlencode(pairs) if pairs else "")


def quoted(value: str) -> str:
    """A value as a quoted phrase of the query language (no wildcards, spaces allowed)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def event_pivots(event: Event) -> list[dict]:
    """Searches that start from this event: its trace, its actor, its resource, its address, its time."""
    pivots = []
    if event.trace_id:
        pivots.append({"label": "Same trace", "value": event.trace_id,
                       "url": viewer_url(trace_id=event.trace_id, range="all", sort="oldest")})
    actor = event.actor_email or event.actor_id or event.actor_name
    if actor:
        pivots.append({"label": "Actor's timeline", "value": actor, "url": viewer_url(actor=actor, range="all")})
    if event.resource_id:
        pivots.append({"label": "Resource lifecycle", "value": f"{event.resource_type or 'resource'} {event.resource_id}",
                       "url": viewer_url(resource_type=event.resource_type, resource_id=event.resource_id,
                                         range="all", sort="oldest")})
    if event.ip_address:
        pivots.append({"label": "Same source IP", "value": event.ip_address,
                       "url": viewer_url(ip=event.ip_address, range="all")})
    if event.session_id:
        pivots.append({"label": "Same session", "value": event.session_id,
                       "url": viewer_url(q=f"session_id:{quoted(event.session_id)}", range="all", sort="oldest")})
    window = timedelta(minutes=15)
    pivots.append({"label": "Around this time", "value": "±15 minutes",
                   "url": viewer_url(start_date=format_time(event.occurred_at - window),
                                     end_date=format_time(event.occurred_at + window), sort="oldest")})
    return pivots
