"""Retention: policies per event type, archive segments and their signed manifests, legal
holds, the vault lock and the runs that move events from the hot table to warm, cold and away.

How events leave the table without breaking the chain: DESIGN.md, "Retention and the chain".
"""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Seed 002's defaults: hot 30 days, warm 90 days, cold 18 months.
DEFAULT_HOT_DAYS = 30
DEFAULT_WARM_DAYS = 90
DEFAULT_COLD_MONTHS = 18


def months_to_days(months: int) -> int:
    """A period in months as the days the runs count: a month is 1/12 of 365.25 days."""
    return round(months * 365.25 / 12)


class RetentionPolicy(models.Model):
    """How long the events of some event types stay in each tier.

    Ages are counted from the event's occurred_at and are cumulative: an event is hot until
    `hot_days` old, warm until `warm_days` old, cold until `cold_months` old, then deleted
    (its segment file; the chain stubs stay). `cold_months` 0 deletes at the end of warm.
    One policy is the default; the others name event-type patterns (`resource.delete`,
    `authentication.*`) and the most specific pattern matching an event's action wins.
    """

    name = models.TextField(unique=True)
    is_default = models.BooleanField(default=False)
    event_types = ArrayField(models.TextField(), default=list, blank=True)
    hot_days = models.PositiveIntegerField(default=DEFAULT_HOT_DAYS)
    warm_days = models.PositiveIntegerField(default=DEFAULT_WARM_DAYS)
    cold_months = models.PositiveIntegerField(default=DEFAULT_COLD_MONTHS)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "retention_policy"
        ordering = ["-is_default", "name"]
        constraints = [
            # One default policy at most; the migration creates it and it cannot be deleted.
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="retention_one_default"),
            models.CheckConstraint(condition=Q(warm_days__gte=models.F("hot_days")), name="retention_warm_after_hot"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def cold_days(self) -> int:
        return months_to_days(self.cold_months)

    @property
    def delete_after_days(self) -> int:
        """Age at which the events' segment file is deleted."""
        return max(self.warm_days, self.cold_days) if self.cold_months else self.warm_days

    def periods(self) -> dict:
        return {"hot_days": self.hot_days, "warm_days": self.warm_days, "cold_months": self.cold_months}


class Segment(models.Model):
    """One archive file: the events of one policy in a seq range, as Parquet, and its manifest.

    The manifest (seq range, count, first prev_hash, last hash, SHA-256 and size of the file)
    is signed with the checkpoint key. A segment moves through its states in order; only a
    VERIFIED one (file read back and checked, stubs written) lets its events leave the table.
    """

    class State(models.TextChoices):
        WRITING = "writing", "Writing"          # file being written; nothing else relies on it
        VERIFIED = "verified", "Verified"       # file checked, stubs written; events may be removed
        WARM = "warm", "Warm"                   # events removed from the table; file in the warm store
        COLD = "cold", "Cold"                   # file in cold storage only
        DELETED = "deleted", "Deleted"          # file deleted; the stubs stay

    policy = models.ForeignKey(RetentionPolicy, on_delete=models.PROTECT, related_name="segments")
    state = models.TextField(choices=State.choices, default=State.WRITING)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    count = models.BigIntegerField(default=0)
    first_prev_hash = models.BinaryField(default=bytes)
    last_hash = models.BinaryField(default=bytes)
    oldest_at = models.DateTimeField(null=True)
    newest_at = models.DateTimeField(null=True)
    file_name = models.TextField()
    sha256 = models.BinaryField(default=bytes)
    size = models.BigIntegerField(default=0)
    manifest = models.JSONField(default=dict)
    key_id = models.TextField(blank=True, default="")
    signature = models.BinaryField(default=bytes)
    cold_key = models.TextField(blank=True, default="")
    restored_until = models.DateTimeField(null=True, blank=True)
    held = models.BooleanField(default=False)
    # Whether a run's record (signed checkpoint and audit event) has reported this segment's
    # last move; a run killed before its record leaves it False for the next run to report.
    reported_state = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    moved_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "retention_segment"
        ordering = ["first_seq"]
        indexes = [models.Index(fields=["state", "newest_at"], name="retention_segment_state")]

    def __str__(self) -> str:
        return f"segment #{self.first_seq}-#{self.last_seq} ({self.state})"


class LegalHold(models.Model):
    """Events matching `query` (the query language) are never deleted while the hold is active.

    Their segments are kept whatever the policy says; the hold ends at `ends_at` or when
    released, and is never deleted (the record of why events were kept stays).
    """

    name = models.TextField()
    query = models.TextField()
    reason = models.TextField()
    owner = models.TextField()
    ends_at = models.DateTimeField(null=True, blank=True)
    created_by = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "retention_legal_hold"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.released_at is None and (self.ends_at is None or self.ends_at > now)


class VaultLock(models.Model):
    """Immutable Vault Mode (seed 000), like S3 Object Lock's compliance mode.

    Once the row exists, retention periods can only be lengthened and no policy can be
    deleted; the row itself refuses UPDATE and DELETE at the database (retention 0001), so
    the lock cannot be lifted through the console, the API, a command or SQL.
    """

    id = models.SmallIntegerField(primary_key=True, default=1)
    locked_at = models.DateTimeField(default=timezone.now)
    locked_by = models.TextField()
    reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "retention_vault_lock"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="retention_vault_lock_single_row")]

    def __str__(self) -> str:
        return f"vault locked by {self.locked_by}"


class RetentionRun(models.Model):
    """One run of the retention job (nightly, or "run now"): what it moved and its result."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    trigger = models.TextField(default="nightly")
    state = models.TextField(choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True)
    archived_events = models.BigIntegerField(default=0)
    segments_written = models.IntegerField(default=0)
    segments_cold = models.IntegerField(default=0)
    segments_deleted = models.IntegerField(default=0)
    segments_held = models.IntegerField(default=0)
    checkpoint_seq = models.BigIntegerField(null=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "retention_run"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"retention run {self.started_at:%Y-%m-%d %H:%M} ({self.state})"


def _archived_event_attrs() -> dict:
    from apps.events.models import Event, EventQuerySet

    attrs = {
        "__module__": __name__,
        "__doc__": "Archived events loaded from segment files into a temporary table of the session "
                   "(apps.retention.archive_reads): the events table's columns, so the query language and "
                   "the visibility rule (Event.objects.visible_to) apply to them unchanged.",
        "objects": EventQuerySet.as_manager(),
        "Meta": type("Meta", (), {"managed": False, "db_table": "retention_archived_event", "ordering": ["-seq"]}),
    }
    for field in Event._meta.concrete_fields:
        attrs[field.name] = field.clone()
    return attrs


ArchivedEvent = type("ArchivedEvent", (models.Model,), _archived_event_attrs())
