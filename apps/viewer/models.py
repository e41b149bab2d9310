"""The viewer's own state: each user's saved queries.

The table was created by the events app (migrations events 0003/0004) and moved here without
touching the database (viewer 0001 and events 0013 change Django's state only). Users'
preferences (time zone, columns) moved on to apps.rbac (rbac 0008, viewer 0002), so that the
dashboard and reports read them too.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


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
