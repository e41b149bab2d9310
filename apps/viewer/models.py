"""The viewer's own state: each user's preferences and their saved queries.

Both tables were created by the events app (migrations events 0003/0004) and moved here without
touching the database (viewer 0001 and events 0013 change Django's state only).
"""
from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_time_zone(value: str) -> None:
    """An IANA time zone name this server knows (`Europe/Paris`, `Asia/Dhaka`, `UTC`)."""
    if value not in _time_zones():
        raise ValidationError("%(value)s is not a time zone name such as Europe/Paris or Asia/Dhaka.",
                              params={"value": value}, code="time_zone")


def _time_zones() -> frozenset[str]:
    global _TIME_ZONES
    if _TIME_ZONES is None:
        _TIME_ZONES = frozenset(zoneinfo.available_timezones()) | {"UTC"}
    return _TIME_ZONES


_TIME_ZONES: frozenset[str] | None = None


class UserPreference(models.Model):
    """How one console user likes the event viewer: their time zone and their columns.

    Times are always shown in UTC; `time_zone` adds the user's local time beside them.
    `columns` are the viewer's columns in order (apps.viewer.columns); empty means the default
    set. The viewer remembers the last columns picked (its `cols=` parameter) here.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="event_preference")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    columns = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_user_preference"

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class SavedQuery(models.Model):
    """A named search of the viewer: its filters and query, kept as the viewer's querystring.

    Private to its owner unless `shared`, when every console user can run it (e.g. "weekend
    admin actions", used by the whole security team). Only the owner edits or deletes it.
    Running it applies `querystring` to /events/ (`/events/?saved=<slug>`), so what the viewer
    shows is still limited to what the runner may see.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queries")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140)
    description = models.TextField(blank=True, default="")
    # The viewer's parameters as a URL query string (`q=...&range=24h&outcome=failure`),
    # without paging state; the same names as the read API's (apps.search.filters).
    querystring = models.TextField(blank=True, default="")
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_saved_query"
        ordering = ["name", "pk"]
        constraints = [
            # `?saved=<slug>` names one of the owner's queries.
            models.UniqueConstraint(fields=["owner", "slug"], name="saved_query_slug_per_owner"),
        ]
        indexes = [
            # The list shows the shared queries of everyone beside the user's own.
            models.Index(fields=["shared", "name"], name="saved_query_shared", condition=Q(shared=True)),
        ]

    def __str__(self) -> str:
        return self.name
