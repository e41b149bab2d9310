"""The outbox: one row per message owed to the outside world, and a row per attempt."""
from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """A message to deliver to one target, kept until it is delivered or given up on.

    `kind` names the deliverer (apps.outbound.registry) and `target` the thing it sends to (a
    channel's or destination's primary key, as text); `payload` is what the deliverer renders.
    `key` groups messages for their owner (an alert's key, a stream's batch), for its delivery
    log. Failed rows are the dead letters: visible, and replayable with outbox_replay.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    kind = models.TextField()
    target = models.TextField()
    key = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict)
    state = models.TextField(choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=12)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "outbound_message"
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's claim: pending rows whose time has come, oldest first. Partial, so the
            # delivered history does not slow it down as it grows.
            models.Index(fields=["next_attempt_at", "id"], name="outbox_due",
                         condition=Q(state="pending")),
            models.Index(fields=["kind", "key"], name="outbox_kind_key"),
            models.Index(fields=["kind", "target", "state"], name="outbox_kind_target_state"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.target} ({self.state})"


class OutboxAttempt(models.Model):
    """One try at delivering a message: when, and what the receiver answered."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    result = models.TextField()
    status = models.IntegerField(null=True, blank=True)
    excerpt = models.TextField(blank=True, default="")
    retry_in = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "outbound_attempt"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.result} {self.status or ''}".strip()
