"""Stream destinations: where the log is carried, how far each has acknowledged, what failed."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.outbound.crypto import EncryptedTextField


class Destination(models.Model):
    """A target the log streams to, in seq order, from `cursor_seq` (the last acknowledged seq).

    `kind` names a module of apps.streams.destinations; `config` holds its plain settings (URL,
    index, host...), `secret` its credential (token, password, signing secret, key), encrypted
    at rest. The events sent are those `owner` may see (the visibility rule) that match `query`.
    """

    class Status(models.TextChoices):
        OK = "ok", "Healthy"
        FAILING = "failing", "Failing"
        PAUSED = "paused", "Paused"
        NEW = "new", "Not started"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=40)
    format = models.CharField(max_length=20, default="jsonl")
    query = models.TextField(blank=True, default="")
    config = models.JSONField(default=dict, blank=True)
    secret = EncryptedTextField(blank=True, default="")
    batch_max_events = models.PositiveIntegerField(default=500)
    batch_max_bytes = models.PositiveIntegerField(default=1_000_000)
    failing_after = models.PositiveSmallIntegerField(default=5, help_text="Consecutive failures before it is failing.")
    enabled = models.BooleanField(default=True)
    paused = models.BooleanField(default=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cursor_seq = models.BigIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_total = models.BigIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        if self.paused or not self.enabled:
            return self.Status.PAUSED
        if self.failing:
            return self.Status.FAILING
        if self.last_success_at is None:
            return self.Status.NEW
        return self.Status.OK

    @property
    def status_label(self) -> str:
        return self.Status(self.status).label


class DeliveryBatch(models.Model):
    """One attempt at sending a batch: what was sent, what came back. Feeds the rate and the log."""

    class Result(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        PARTIAL = "partial", "Partly delivered"
        RETRY = "retry", "Will retry"
        FAILED = "failed", "Failed"

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="batches")
    at = models.DateTimeField(default=timezone.now)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    events = models.PositiveIntegerField()
    acknowledged = models.PositiveIntegerField(default=0)
    result = models.CharField(max_length=10, choices=Result.choices)
    status_code = models.IntegerField(null=True, blank=True)
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["destination", "-at"], name="stream_batch_dest_at")]


class DeadLetter(models.Model):
    """An event a destination refused for good (a 4xx, a per-item mapping error): kept, shown, replayable."""

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="dead_letters")
    seq = models.BigIntegerField()
    event_id = models.TextField()
    status_code = models.IntegerField(null=True, blank=True)
    response = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["destination", "replayed_at", "seq"], name="stream_dead_open")]
