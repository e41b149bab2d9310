"""The audit log: one append-only, hash-chained table of events, and the chain's bookkeeping
(head, checkpoints, verification runs, retention's chain stubs, the rollups' state). Every model of
the log layer is here, which puts the module a little past 400 lines; it holds fields, indexes and
the queryset vocabulary only."""
from __future__ import annotations


from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Expression, F, Func, Q, TextField
from django.db.models.expressions import Col
from django.db.models.functions import Cast, Upper


# The visibility rule: a function principal -> Q naming the events that principal may see.
# The log does not know who may see what; apps.rbac fills this hook when it is loaded
# (RbacConfig.ready). Until then nothing is visible: deny by default.
_visibility_rule = None


def visibility_rule_set(rule) -> None:
    """Install the one visibility rule (apps.rbac.scoping.event_scope)."""
    global _visibility_rule
    _visibility_rule = rule


class EventQuerySet(models.QuerySet):
    def visible_to(self, principal) -> "EventQuerySet":
        """Only the events `principal` (a user or an API token) may see.

        The rule itself lives in apps.rbac.scoping; this is the vocabulary every read uses.
        """
        if _visibility_rule is None:
            return self.none()
        return self.filter(_visibility_rule(principal))

    def between(self, start=None, end=None) -> "EventQuerySet":
        qs = self
        if start is not None:
            qs = qs.filter(occurred_at__gte=start)
        if end is not None:
            qs = qs.filter(occurred_at__lt=end)
        return qs

    def newest_first(self) -> "EventQuerySet":
        return self.order_by("-occurred_at", "-seq")


class SearchExpression(Func):
    """What free-text search looks in: description, actor, resource, action and metadata.

    One expression joining those columns, so that `word` and `"a phrase"` searches of the query
    language are one pattern match instead of nine. The columns are joined by the unit separator
    (U+001F), which no one types, so a phrase cannot match across two columns; jsonb's text form
    escapes it inside metadata. Since events 0012 it is not evaluated by searches: the table
    stores it, lower-cased, as the generated column `search_text` (see SearchText). Migration
    0005 built the first trigram index on this expression itself.
    """

    COLUMNS = (
        "description", "actor_id", "actor_name", "actor_email", "resource_type", "resource_id",
        "resource_name", "action",
    )
    SEPARATOR = "\x1f"
    template = "(%(expressions)s)"
    arg_joiner = " || E'\\x1f' || "
    output_field = TextField()

    def __init__(self, *expressions, **extra):
        # Every column is NOT NULL, so plain || (immutable, unlike concat()) needs no coalesce.
        if not expressions:
            expressions = (*(F(name) for name in self.COLUMNS), Cast("metadata", TextField()))
        super().__init__(*expressions, **extra)


# The stored column, outside the model's fields: Event instances never load it (it roughly
# doubles a row's text), and the hash chain never sees it.
_SEARCH_COLUMN = TextField()
_SEARCH_COLUMN.set_attributes_from_name("search_text")


class SearchText(Expression):
    """The column `audit_event.search_text`: lower(SearchExpression), stored (events 0012).

    Free text is `search_text LIKE lower('%word%')` (LowerLike in apps.events.query.compiler),
    which is exactly PostgreSQL's ILIKE on a UTF-8 database (lower() both sides, then LIKE),
    and is served by the trigram index `event_search_trgm` on this column. Reading the stored
    text instead of building the expression per row (the jsonb's text form above all) made a
    common phrase's capped count about three times cheaper.
    """

    SEPARATOR = SearchExpression.SEPARATOR
    output_field = TextField()

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        return Col(query.get_initial_alias() if query.alias_cols else None, _SEARCH_COLUMN, output_field=TextField())


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
            # Project, action and severity together (migration 0007): `project=x&action=iam.*&
            # severity=high` otherwise ANDs two large bitmaps and reads every heap page they
            # name (about 50,000 at 10M events to keep a few hundred rows). Severity is a key,
            # not only carried, so that it narrows the rows fetched for the page as well.
            models.Index(
                fields=["project", "action", "severity", "occurred_at"],
                name="event_project_action_sev_time",
                opclasses=["text_ops", "text_pattern_ops", "text_ops", "timestamptz_ops"],
            ),
            models.Index(fields=["trace_id"], name="event_trace", condition=~Q(trace_id="")),
            # Search indexes (migration 0005_search_indexes; costs measured in bench/query.py).
            # Low-cardinality filters: a rare value (severity critical, auth_method mfa) would
            # otherwise walk the whole time index backwards looking for its first page.
            models.Index(fields=["severity", "occurred_at"], name="event_severity_time"),
            models.Index(fields=["category", "occurred_at"], name="event_category_time"),
            models.Index(fields=["auth_method", "occurred_at"], name="event_auth_method_time"),
            # `actor=bob` is UPPER() = UPPER() on id, name and email; rbac 0004 indexes the first
            # two, this the third, so the three-way OR becomes a BitmapOr instead of a scan.
            models.Index(Upper("actor_name"), F("occurred_at"), name="event_actor_name_ci_time"),
            # Free text also looks for the word as a request or session id (exact); with the
            # event_id and trace_id indexes, every branch of the free-text OR has an index.
            models.Index(fields=["request_id"], name="event_request", condition=~Q(request_id="")),
            models.Index(fields=["session_id"], name="event_session", condition=~Q(session_id="")),
            # `tags:budget` and free text's tag match: tags @> ARRAY['budget'].
            GinIndex(fields=["tags"], name="event_tags"),
            # Free text: the trigram index event_search_trgm on the stored column search_text is
            # made by migration 0012 in SQL, outside the model's state (see SearchText).
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


class ChainStub(models.Model):
    """What stays of an event retention removed from the events table: its place in the chain.

    `(seq, hash, prev_hash, occurred_at)` and the archive segment its content went to (an id of
    the retention app's segments, kept as a plain number: the log knows nothing of retention).
    Verification walks events and stubs together in seq order, so the chain still verifies
    after events leave, and a kept event still cannot be changed. Kept forever: the table is
    append-only like the events table (events 0014).
    """

    seq = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField()
    prev_hash = models.BinaryField()
    occurred_at = models.DateTimeField()
    segment_id = models.BigIntegerField(db_index=True)

    class Meta:
        db_table = "audit_chain_stub"
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"stub #{self.seq}"


class RollupBucket(models.Model):
    """How many events fell in one time bucket for one value of one dimension.

    Maintained at ingest (apps.events.rollups, inside chain_append's transaction, so a rollup
    never counts an event the log does not hold and never misses one it does). The dashboard
    reads these instead of scanning the events table: a 30-day summary is a few thousand rows
    whatever the size of the log. Buckets are by occurred_at; `dimension` is one of
    apps.events.rollups.DIMENSIONS ("all" with value "" counts every event).
    """

    class Granularity(models.TextChoices):
        MINUTE = "minute"
        HOUR = "hour"
        DAY = "day"

    bucket_start = models.DateTimeField()
    granularity = models.TextField(choices=Granularity.choices)
    dimension = models.TextField()
    value = models.TextField()
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "audit_rollup_bucket"
        constraints = [
            # The upsert's conflict target; its index also serves the dashboard's range scans
            # when they name the granularity and dimension (the leading columns below).
            models.UniqueConstraint(fields=["granularity", "dimension", "bucket_start", "value"],
                                    name="rollup_bucket_key"),
        ]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.dimension}={self.value}: {self.count}"


class _SeqMark(models.Model):
    """A single row (id 1) holding the seq up to which some counts include the events."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class RollupState(_SeqMark):
    """The single row that says up to which seq the rollups count events.

    Written in the same transaction as the buckets, so `seq` is exactly the last event counted;
    a rebuild (apps.events.rollups.rollups_catch_up) continues from it.
    """

    class Meta:
        db_table = "audit_rollup_state"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="rollup_state_single_row")]

    def __str__(self) -> str:
        return f"rollups up to #{self.seq}"


class ActorRollupBucket(models.Model):
    """Events per time bucket and dimension value for one actor, for the dashboards of users
    who see only some actors' events (a Regular User's own events, a Manager's team).

    The visibility rule (apps.rbac.scoping) matches an event to a person by UPPER(actor_id) and
    by UPPER(actor_email), either one, so the rows are keyed by both: a user's events are the
    rows whose `actor_id` is UPPER(their username) or whose `actor_email` is UPPER(their
    email), each event counted once under its one pair. Counted by the worker from the events
    table (apps.events.rollups.actor_rollups_catch_up), not at ingest: the dashboard adds the
    events after ActorRollupState.seq from the events table, so its numbers stay exact.
    """

    bucket_start = models.DateTimeField()
    granularity = models.TextField(choices=RollupBucket.Granularity.choices)
    actor_id = models.TextField()      # UPPER(audit_event.actor_id)
    actor_email = models.TextField()   # UPPER(audit_event.actor_email)
    dimension = models.TextField()
    value = models.TextField()
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "audit_rollup_actor"
        constraints = [
            # The upsert's conflict target, and the dashboard's read: one range per actor, read
            # from the index alone (INCLUDE count): a 30-day top of a team's resources sums some
            # 400,000 rows at 10M events, which from the table's pages took 300 ms.
            models.UniqueConstraint(fields=["granularity", "dimension", "actor_id", "actor_email", "bucket_start", "value"],
                                    include=["count"], name="rollup_actor_key"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id}/{self.actor_email} {self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.dimension}={self.value}: {self.count}"


class ActorRollupState(_SeqMark):
    """The seq up to which ActorRollupBucket counts events (written with the buckets)."""

    class Meta:
        db_table = "audit_rollup_actor_state"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="rollup_actor_state_single_row")]

    def __str__(self) -> str:
        return f"actor rollups up to #{self.seq}"


class VerificationRun(models.Model):
    """One run of chain verification (verify_chain, the periodic worker task): its range and result.

    The dashboard's compliance panel shows the last full and the last incremental run; the
    incremental task starts after the last valid run's `to_seq`.
    """

    class Kind(models.TextChoices):
        FULL = "full"
        INCREMENTAL = "incremental"

    kind = models.TextField(choices=Kind.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    from_seq = models.BigIntegerField(null=True)
    to_seq = models.BigIntegerField(null=True)
    checked = models.BigIntegerField(default=0)
    valid = models.BooleanField()
    first_bad_seq = models.BigIntegerField(null=True)
    reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "audit_verification_run"
        ordering = ["-finished_at"]
        indexes = [models.Index(fields=["kind", "-finished_at"], name="verification_run_kind_time")]

    def __str__(self) -> str:
        return f"{self.kind} verification #{self.from_seq}-#{self.to_seq}: {'valid' if self.valid else 'INVALID'}"
