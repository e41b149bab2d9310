"""Alert rules, their evaluation state, the alerts they raise, silences and channels."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.outbound.crypto import EncryptedTextField


class Severity(models.TextChoices):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertRule(models.Model):
    """A detection: a condition in the query language and a kind that says when it fires.

    Kinds: match (every matching event), threshold (count, or distinct count of a field, of
    matching events in a sliding window per group), first_seen (a new value of a field for a
    group, after a learning period), sequence (`threshold` events of the condition, then one of
    `then_condition`, within the window, per group), absence (no matching event for the window).

    The worker evaluates each rule from its own cursor `last_seq` (apps.alerts.evaluate), so a
    worker that was down catches up without gaps and, since the cursor moves in the same
    transaction as the state and alerts, without firing twice.
    """

    class Kind(models.TextChoices):
        MATCH = "match", "Match"
        THRESHOLD = "threshold", "Threshold"
        FIRST_SEEN = "first_seen", "First seen"
        SEQUENCE = "sequence", "Sequence"
        ABSENCE = "absence", "Absence"

    name = models.TextField(unique=True)
    description = models.TextField(blank=True, default="")
    kind = models.TextField(choices=Kind.choices, default=Kind.MATCH)
    severity = models.TextField(choices=Severity.choices, default=Severity.MEDIUM)
    enabled = models.BooleanField(default=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    # A built-in detection's stable name (installed by a migration), empty for the users' own.
    builtin = models.TextField(blank=True, default="")
    condition = models.TextField()
    then_condition = models.TextField(blank=True, default="")
    group_by = ArrayField(models.TextField(), default=list, blank=True)
    window = models.TextField(blank=True, default="")
    threshold = models.PositiveIntegerField(default=1)
    distinct_field = models.TextField(blank=True, default="")
    learning_period = models.TextField(blank=True, default="")
    # {"timezone": "Europe/Paris", "start": "08:00", "end": "19:00", "days": [0, 1, 2, 3, 4]}:
    # when set, the rule only fires for events outside these hours (off-hours detections).
    working_hours = models.JSONField(default=dict, blank=True)
    # Failed verifications of our own chain fire this rule too (the audit-trail tampering built-in).
    watch_chain = models.BooleanField(default=False)
    channels = ArrayField(models.TextField(), default=list, blank=True)
    recipients = ArrayField(models.TextField(), default=list, blank=True)

    # Evaluation state.
    last_seq = models.BigIntegerField(default=0)
    watermark = models.DateTimeField(null=True, blank=True)
    learning_until = models.DateTimeField(null=True, blank=True)
    last_match_at = models.DateTimeField(null=True, blank=True)
    last_verification_id = models.BigIntegerField(default=0)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    matched_total = models.BigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alerts_rule"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WindowHit(models.Model):
    """A matching event kept while it can still count in a window (threshold and sequence).

    Pruned once older than the rule's watermark minus window and lateness, so the table holds
    at most a window's worth of matches per rule.
    """

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    group_key = models.TextField()
    step = models.TextField(default="a")
    seq = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    value = models.TextField(blank=True, default="")

    class Meta:
        db_table = "alerts_window_hit"
        indexes = [models.Index(fields=["rule", "group_key", "occurred_at"], name="alerts_hit_window")]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.group_key}@{self.occurred_at}"


class SeenValue(models.Model):
    """A value already seen for a group (first_seen rules): the O(1) lookup per event."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    group_key = models.TextField()
    value = models.TextField()
    first_at = models.DateTimeField()
    first_seq = models.BigIntegerField()

    class Meta:
        db_table = "alerts_seen_value"
        constraints = [models.UniqueConstraint(fields=["rule", "group_key", "value"], name="alerts_seen_unique")]

    def __str__(self) -> str:
        return f"{self.group_key}={self.value}"


class Alert(models.Model):
    """One firing of a rule for one group, kept open while the burst continues.

    `dedup_key` (rule and group) is unique among alerts that are not resolved, so a continuing
    burst updates the open alert (count, last event) instead of opening another.
    """

    class State(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    dedup_key = models.TextField()
    group = models.JSONField(default=dict, blank=True)
    title = models.TextField()
    severity = models.TextField(choices=Severity.choices)
    state = models.TextField(choices=State.choices, default=State.OPEN)
    silenced = models.BooleanField(default=False)
    count = models.PositiveIntegerField(default=0)
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    first_event_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_by = models.TextField(blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_comment = models.TextField(blank=True, default="")
    resolved_by = models.TextField(blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_comment = models.TextField(blank=True, default="")

    class Meta:
        db_table = "alerts_alert"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedup_key"], condition=~Q(state="resolved"), name="alerts_one_open_per_key"),
        ]
        indexes = [models.Index(fields=["state", "-created_at"], name="alerts_state_time")]

    def __str__(self) -> str:
        return self.title


class Silence(models.Model):
    """Alerts of a rule, or raised by events matching a query, are recorded but not notified."""

    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="silences")
    query = models.TextField(blank=True, default="")
    ends_at = models.DateTimeField()
    comment = models.TextField(blank=True, default="")
    created_by = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "alerts_silence"
        ordering = ["-ends_at"]

    def __str__(self) -> str:
        return f"silence until {self.ends_at:%Y-%m-%d %H:%M}"


class Channel(models.Model):
    """Where alerts are sent: a kind (apps.alerts.channels) and its settings, secrets encrypted."""

    name = models.TextField(unique=True)
    kind = models.TextField()
    url = EncryptedTextField(blank=True, default="")
    secret = EncryptedTextField(blank=True, default="")
    recipients = ArrayField(models.TextField(), default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "alerts_channel"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
