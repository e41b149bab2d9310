"""Compliance frameworks (as data), reports, their files, and report schedules."""
from __future__ import annotations

import uuid

from datetime import time

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.rbac.time_zones import validate_time_zone


class Framework(models.Model):
    """A compliance framework: its controls and, for each, the queries whose results are evidence.

    The built-in frameworks are loaded from apps/reports/frameworks/*.yaml the first time they
    are needed; from then on the mapping lives here, where administrators review and edit it.
    """

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    version = models.CharField(max_length=120, blank=True, default="")
    description = models.TextField(blank=True, default="")
    based_on = models.CharField(max_length=120, blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True, default="", help_text="Who last edited the mapping.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Control(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="controls")
    ref = models.CharField(max_length=60, help_text="The framework's own reference, e.g. CC6.1 or A.8.15.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["framework", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["framework", "ref"], name="control_ref_unique")]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


class Evidence(models.Model):
    """One query whose results are evidence for a control, and what that evidence shows."""

    control = models.ForeignKey(Control, on_delete=models.CASCADE, related_name="evidence")
    title = models.CharField(max_length=200)
    query = models.TextField(help_text="In the console's query language.")
    shows = models.TextField(help_text="One sentence: what these events show an auditor.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["control", "position", "id"]


class ReportType(models.TextChoices):
    ACCESS_AUDIT = "access_audit", "Access audit"
    CHANGE_AUDIT = "change_audit", "Change audit"
    SECURITY_AUDIT = "security_audit", "Security audit"
    COMPLIANCE_AUDIT = "compliance_audit", "Compliance report"
    USER_ACTIVITY = "user_activity", "User activity"
    CUSTOM = "custom", "Custom report"


class Format(models.TextChoices):
    PDF = "pdf", "PDF"
    CSV = "csv", "CSV (figures)"
    JSON = "json", "JSON (figures)"
    ZIP = "zip", "Evidence pack (ZIP)"


class Grouping(models.TextChoices):
    NONE = "", "No grouping"
    USER = "user", "By user"
    RESOURCE = "resource", "By resource"
    EVENT_TYPE = "event_type", "By event type"


METRICS = (
    ("event_count", "Event counts"),
    ("unique_users", "Unique users"),
    ("resources_affected", "Resources affected"),
)


class ReportParameters(models.Model):
    """What a report covers; shared by a report and by the schedule that makes reports."""

    report_type = models.CharField(max_length=24, choices=ReportType.choices)
    framework = models.ForeignKey(Framework, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200, blank=True, default="")
    query = models.TextField(blank=True, default="", help_text="Only events matching this query (query language).")
    subject = models.CharField(max_length=254, blank=True, default="",
                               help_text="User activity: the person (id, name or email).")
    grouping = models.CharField(max_length=16, choices=Grouping.choices, blank=True, default="")
    metrics = ArrayField(models.CharField(max_length=24), default=list, blank=True)
    sections = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.PDF)
    include_evidence = models.BooleanField(default=False)

    class Meta:
        abstract = True


class Report(ReportParameters):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="reports")
    token = models.ForeignKey("rbac.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    schedule = models.ForeignKey("reports.Schedule", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reports")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    figures = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="report_owner_created")]

    @property
    def principal(self):
        """Whose view of the log the report shows: the token that asked, else the user."""
        return self.token if self.token_id else self.requested_by

    @property
    def requester_label(self) -> str:
        if self.requested_by_id:
            return self.requested_by.get_username()
        if self.token_id:
            return f"token {self.token.prefix}"
        return "system"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ReportFile(models.Model):
    """A generated file, kept under settings.REPORTS_ROOT; its digest is checked on download."""

    class Kind(models.TextChoices):
        REPORT = "report", "Report"
        EVIDENCE = "evidence", "Evidence pack"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    path = models.CharField(max_length=300)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["report", "kind"], name="report_file_kind_unique")]


class Schedule(ReportParameters):
    """A report made again and again (or once, later) by the worker, and mailed to recipients.

    Daily, weekly and monthly schedules run at `time_of_day` in `time_zone` (the owner's zone
    when they made it), weekly ones on `weekday`, monthly ones on `day_of_month` (a day the
    month does not have, 29 to 31, is its last day); their periods ("the previous day", ...)
    are days of that zone too. A cron expression is read in UTC. apps.reports.schedules
    computes the runs.
    """

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    class Recurrence(models.TextChoices):
        ONCE = "once", "One time"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        CRON = "cron", "Cron expression"

    class Period(models.TextChoices):
        PREVIOUS_DAY = "previous_day", "The previous day"
        PREVIOUS_WEEK = "previous_week", "The previous week (Monday to Sunday)"
        PREVIOUS_MONTH = "previous_month", "The previous calendar month"
        LAST_7D = "last_7d", "The last 7 days"
        LAST_30D = "last_30d", "The last 30 days"
        LAST_90D = "last_90d", "The last 90 days"

    name = models.CharField(max_length=120)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_schedules")
    period = models.CharField(max_length=16, choices=Period.choices, default=Period.PREVIOUS_DAY)
    recurrence = models.CharField(max_length=8, choices=Recurrence.choices, default=Recurrence.DAILY)
    cron = models.CharField(max_length=120, blank=True, default="",
                            help_text="Five fields, UTC: minute hour day-of-month month day-of-week.")
    run_at = models.DateTimeField(null=True, blank=True, help_text="One time: when to make it (UTC).")
    # The defaults are the times every schedule ran at before they could be chosen: 06:00 UTC,
    # weekly on Mondays, monthly on the 1st.
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    day_of_month = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(31)])
    time_of_day = models.TimeField(default=time(6, 0))
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    recipients = ArrayField(models.EmailField(), default=list, blank=True)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["next_run_at"], name="schedule_due",
                                condition=models.Q(enabled=True))]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="schedule_weekday_valid"),
            models.CheckConstraint(condition=models.Q(day_of_month__gte=1, day_of_month__lte=31),
                                   name="schedule_day_of_month_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def when(self) -> str:
        """When it runs, in words: "Weekly, Mondays at 06:00 (Asia/Tokyo)"."""
        if self.recurrence == self.Recurrence.CRON:
            return f"Cron {self.cron} (UTC)"
        if self.recurrence == self.Recurrence.ONCE:
            return f"Once, {self.run_at:%Y-%m-%d %H:%M} UTC" if self.run_at else "Once"
        at = f"at {self.time_of_day:%H:%M} ({self.time_zone or 'UTC'})"
        if self.recurrence == self.Recurrence.WEEKLY:
            return f"Weekly, {self.Weekday(self.weekday).label}s {at}"
        if self.recurrence == self.Recurrence.MONTHLY:
            last = " (or the month's last day)" if self.day_of_month > 28 else ""
            return f"Monthly, on day {self.day_of_month}{last} {at}"
        return f"Daily {at}"
