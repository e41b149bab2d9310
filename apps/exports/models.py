"""Exports made from the console: stored custom templates, and large exports run by the worker.

This app belongs with the reads of events (DESIGN.md's `search` layer): it reads events only
through `apps.search.reads.event_export`, which starts from the visibility rule.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportTemplate(models.Model):
    """A custom export format: a Jinja2 template rendered per event (apps.search.formats.template).

    A template with an owner is that user's own; one without an owner was defined by an
    administrator for everyone who may export (like NetBox's export templates).
    """

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True, default="")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="export_templates")
    source = models.TextField(help_text="Rendered once per event; the event is `event`.")
    header = models.TextField(blank=True, default="")
    footer = models.TextField(blank=True, default="")
    extension = models.CharField(max_length=16, default="txt")
    content_type = models.CharField(max_length=100, default="text/plain; charset=utf-8")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="export_template_owner_name",
                                               nulls_distinct=False)]

    def __str__(self) -> str:
        return self.name

    @property
    def shared(self) -> bool:
        return self.owner_id is None


class ExportJob(models.Model):
    """A large export written to a file by the worker, downloadable until `expires_at`.

    It keeps the viewer's query string and the user, not the events: the worker reads them
    through the visibility rule as that user, at the time it runs.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs")
    querystring = models.TextField(blank=True, default="")
    format = models.CharField(max_length=20)
    template = models.ForeignKey(ExportTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expected = models.BigIntegerField(default=0, help_text="Matching events when requested (the viewer's count).")
    written = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, default="")
    filename = models.CharField(max_length=200, blank=True, default="")
    path = models.CharField(max_length=300, blank=True, default="")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="export_job_owner_created"),
                   models.Index(fields=["status", "expires_at"], name="export_job_expiry")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.expected:
            return 0
        return min(99, int(self.written * 100 / self.expected))

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.EXPIRED)
