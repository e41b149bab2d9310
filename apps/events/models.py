"""The audit log: one append-only, hash-chained table of events, and the chain's bookkeeping."""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class EventQuerySet(models.QuerySet):
    def visible_to(self, principal) -> "EventQuerySet":
        """Only the events `principal` (a user or an API token) may see.

        The rule itself lives in apps.rbac.scoping; this is the vocabulary every read uses.
        """
        from apps.rbac.scoping import event_scope

        return self.filter(event_scope(principal))

    def between(self, start=None, end=None) -> "EventQuerySet":
        qs = self
        if start is not None:
            qs = qs.filter(occurred_at__gte=start)
        if end is not None:
            qs = qs.filter(occurred_at__lt=end)
        return qs

    def newest_first(self) -> "EventQuerySet":
        return self.order_by("-occurred_at", "-seq")


class Event(models.Model):
    """One audit event: who did what to which resource, from where, with what outcome.

    Rows are only ever appended (see apps.events.chain). The database refuses UPDATE,
    DELETE and TRUNCATE through triggers (migration 0003_append_only_triggers); the hash
    chain makes any change made around them (a superuser disabling triggers) detectable by
    verify_chain.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"
        ERROR = "error"
        UNKNOWN = "unknown"

    class Severity(models.TextChoices):
        INFO = "info"
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"

    seq = models.BigIntegerField(primary_key=True)
    event_id = models.TextField(unique=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    action = models.TextField()
    category = models.TextField(blank=True, default="")
    outcome = models.TextField(choices=Outcome.choices, default=Outcome.UNKNOWN)
    severity = models.TextField(choices=Severity.choices, default=Severity.INFO)
    actor_type = models.TextField(blank=True, default="")
    actor_id = models.TextField(blank=True, default="")
    actor_name = models.TextField(blank=True, default="")
    actor_email = models.TextField(blank=True, default="")
    auth_method = models.TextField(blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")
    session_id = models.TextField(blank=True, default="")
    resource_type = models.TextField(blank=True, default="")
    resource_id = models.TextField(blank=True, default="")
    resource_name = models.TextField(blank=True, default="")
    project = models.TextField(blank=True, default="")
    region = models.TextField(blank=True, default="")
    request_method = models.TextField(blank=True, default="")
    request_path = models.TextField(blank=True, default="")
    status_code = models.IntegerField(null=True, blank=True)
    trace_id = models.TextField(blank=True, default="")
    request_id = models.TextField(blank=True, default="")
    tags = ArrayField(models.TextField(), default=list, blank=True)
    description = models.TextField(blank=True, default="")
    changes = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    prev_hash = models.BinaryField()
    hash = models.BinaryField()

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "audit_event"
        ordering = ["-occurred_at", "-seq"]
        permissions = [("view_all_events", "Can see every event, not only their own")]
        indexes = [
            # Newest-first keyset pagination of the viewer: (occurred_at, seq) is the cursor.
            models.Index(fields=["occurred_at", "seq"], name="event_time_seq"),
            # Each filter of the viewer is an equality (or prefix) on one column followed by a
            # time range, so every index leads with the column and ends with the time.
            models.Index(fields=["actor_id", "occurred_at"], name="event_actor_id_time"),
            models.Index(fields=["actor_email", "occurred_at"], name="event_actor_email_time"),
            # text_pattern_ops lets `action LIKE 'iam.role.%'` (prefix match) use the index
            # whatever the database collation is.
            models.Index(
                fields=["action", "occurred_at"],
                name="event_action_time",
                opclasses=["text_pattern_ops", "timestamptz_ops"],
            ),
            models.Index(fields=["resource_type", "resource_id", "occurred_at"], name="event_resource_time"),
            models.Index(fields=["resource_id", "occurred_at"], name="event_resource_id_time"),
            models.Index(fields=["ip_address", "occurred_at"], name="event_ip_time"),
            models.Index(fields=["outcome", "occurred_at"], name="event_outcome_time"),
            models.Index(fields=["project", "occurred_at"], name="event_project_time"),
            models.Index(fields=["trace_id"], name="event_trace", condition=~Q(trace_id="")),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"

    @property
    def actor_label(self) -> str:
        return self.actor_email or self.actor_name or self.actor_id or self.actor_type or "unknown"

    @property
    def hash_hex(self) -> str:
        return "sha256:" + bytes(self.hash).hex()

    @property
    def prev_hash_hex(self) -> str:
        return "sha256:" + bytes(self.prev_hash).hex()


class ChainHead(models.Model):
    """The single row that holds the end of the chain.

    Every append takes `SELECT ... FOR UPDATE` on this row, which serialises writers so that
    seq stays gapless and each event's prev_hash is its predecessor's hash, whatever the
    number of concurrent ingest requests.
    """

    id = models.SmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.BinaryField(default=bytes(32))

    class Meta:
        db_table = "audit_chain_head"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="chain_head_single_row")]

    def __str__(self) -> str:
        return f"chain head at #{self.seq}"


class Checkpoint(models.Model):
    """A signed statement that the chain up to `seq` ends in `hash`.

    Like CloudTrail's digest files: a holder of the public key can check an export against a
    checkpoint without trusting this server, and verification can start from one.
    """

    class Reason(models.TextChoices):
        INTERVAL = "interval"
        MANUAL = "manual"
        RETENTION = "retention"

    seq = models.BigIntegerField(unique=True)
    hash = models.BinaryField()
    event_count = models.BigIntegerField()
    created_at = models.DateTimeField()
    reason = models.TextField(choices=Reason.choices, default=Reason.INTERVAL)
    key_id = models.TextField()
    signature = models.BinaryField()

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"
