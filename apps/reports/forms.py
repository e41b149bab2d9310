"""The report and schedule forms; the API validates its JSON through ReportForm too."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone as dt_timezone

from django import forms
from django.utils import timezone

from apps.events.query import QueryError, validate_query
from apps.events.query.nodes import Value
from apps.events.query.values import time_span
from apps.rbac.preferences import preference_get
from apps.rbac.time_zones import time_zone_names
from apps.reports.frameworks_data import framework_list
from apps.reports.models import METRICS, Format, Framework, Grouping, ReportType, Schedule
from apps.reports.schedules import cron_valid, next_run
from apps.reports.sections import SECTIONS

PERIODS = (
    ("last_7d", "Last 7 days"),
    ("last_30d", "Last 30 days"),
    ("last_90d", "Last 90 days"),
    ("previous_month", "Previous calendar month"),
    ("previous_quarter", "Previous quarter"),
    ("custom", "Custom dates"),
)
# A report covers at most this long a period.
MAX_PERIOD = timedelta(days=3 * 366)


def period_bounds(key: str, now: datetime) -> tuple[datetime, datetime]:
    now = now.astimezone(dt_timezone.utc).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    if key in ("last_7d", "last_30d", "last_90d"):
        return now - timedelta(days=int(key[5:-1])), now
    first = midnight.replace(day=1)
    if key == "previous_month":
        return (first - timedelta(days=1)).replace(day=1), first
    quarter_first = first.replace(month=3 * ((first.month - 1) // 3) + 1)
    previous = (quarter_first - timedelta(days=1)).replace(day=1)
    previous = previous.replace(month=3 * ((previous.month - 1) // 3) + 1)
    return previous, quarter_first


def parse_time(text: str, *, end: bool, now: datetime) -> datetime:
    """A date (its whole day), a timestamp (its second) or now-7d, as the viewer reads them."""
    value = text.strip()
    span = time_span(Value(value, False, 0, len(value)), now=now)
    if not end:
        return span.start.replace(microsecond=0)
    return span.end if span.instant else span.end


class FrameworkChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class ReportParametersForm(forms.Form):
    report_type = forms.ChoiceField(choices=ReportType.choices, label="Report type")
    framework = FrameworkChoiceField(queryset=Framework.objects.none(), required=False, to_field_name="key",
                                     label="Framework", empty_label="Choose a framework")
    query = forms.CharField(required=False, label="Event filter",
                            help_text="Query language, e.g. project:prod AND -actor.type:system",
                            widget=forms.TextInput(attrs={"class": "mono", "placeholder": "optional"}))
    subject = forms.CharField(required=False, max_length=254, label="Person",
                              help_text="User activity: their id, email or name, exactly.")
    grouping = forms.ChoiceField(choices=Grouping.choices, required=False, label="Group by")
    metrics = forms.MultipleChoiceField(choices=METRICS, required=False, label="Metrics",
                                        widget=forms.CheckboxSelectMultiple)
    sections = forms.MultipleChoiceField(choices=[(s.key, s.title) for s in SECTIONS.values()], required=False,
                                         label="Sections", widget=forms.CheckboxSelectMultiple,
                                         help_text="Leave empty for the report type's usual sections.")
    format = forms.ChoiceField(choices=Format.choices, initial=Format.PDF, label="Format")
    include_evidence = forms.BooleanField(required=False, label="Also make a signed evidence pack (ZIP)")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["framework"].queryset = framework_list()

    def clean_query(self):
        query = self.cleaned_data.get("query", "").strip()
        if query:
            try:
                validate_query(query)
            except QueryError as error:
                raise forms.ValidationError(str(error)) from None
        return query

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("report_type")
        if kind == ReportType.COMPLIANCE_AUDIT and not cleaned.get("framework"):
            self.add_error("framework", "A compliance report needs a framework.")
        if kind == ReportType.USER_ACTIVITY and not (cleaned.get("subject") or "").strip():
            self.add_error("subject", "A user activity report needs the person: their id, email or name.")
        if kind == ReportType.CUSTOM and not cleaned.get("metrics"):
            cleaned["metrics"] = [key for key, _ in METRICS]
        wants_pack = cleaned.get("format") == Format.ZIP or cleaned.get("include_evidence")
        if wants_pack and self.user is not None and not self.user.has_perm("rbac.generate_evidence_packs"):
            self.add_error("include_evidence" if cleaned.get("include_evidence") else "format",
                           "Your role may generate reports but not evidence packs.")
        return cleaned


class ReportForm(ReportParametersForm):
    title = forms.CharField(required=False, max_length=200, label="Report name",
                            widget=forms.TextInput(attrs={"placeholder": "optional; a name is made from the type and period"}))
    period = forms.ChoiceField(choices=PERIODS, initial="last_30d", label="Period")
    start = forms.CharField(required=False, label="From (UTC)", widget=forms.TextInput(attrs={"placeholder": "2026-01-01"}))
    end = forms.CharField(required=False, label="To (UTC)",
                          widget=forms.TextInput(attrs={"placeholder": "2026-03-31 (that day included)"}))

    field_order = ["report_type", "framework", "title", "period", "start", "end", "subject", "query", "sections",
                   "grouping", "metrics", "format", "include_evidence"]

    def clean(self):
        cleaned = super().clean()
        now = timezone.now()
        if cleaned.get("period") == "custom" or (cleaned.get("start") or cleaned.get("end")):
            start_text, end_text = (cleaned.get("start") or "").strip(), (cleaned.get("end") or "").strip()
            if not start_text:
                self.add_error("start", "Give the first day (or time) of the period.")
            if not end_text:
                self.add_error("end", "Give the last day (or time) of the period.")
            if not (start_text and end_text):
                return cleaned
            try:
                cleaned["start"] = parse_time(start_text, end=False, now=now)
            except QueryError as error:
                self.add_error("start", f"not a time: {error}")
                return cleaned
            try:
                cleaned["end"] = parse_time(end_text, end=True, now=now)
            except QueryError as error:
                self.add_error("end", f"not a time: {error}")
                return cleaned
        else:
            cleaned["start"], cleaned["end"] = period_bounds(cleaned.get("period") or "last_30d", now)
        if cleaned["end"] <= cleaned["start"]:
            self.add_error("end", "The period must end after it starts.")
        elif cleaned["end"] - cleaned["start"] > MAX_PERIOD:
            self.add_error("end", "A report covers at most three years.")
        return cleaned


class ScheduleForm(ReportParametersForm):
    name = forms.CharField(max_length=120, label="Schedule name")
    period = forms.ChoiceField(choices=Schedule.Period.choices, label="Each report covers")
    recurrence = forms.ChoiceField(choices=Schedule.Recurrence.choices, label="Runs")
    cron = forms.CharField(required=False, max_length=120, label="Cron expression (UTC)",
                           widget=forms.TextInput(attrs={"class": "mono", "placeholder": "0 6 * * 1-5"}))
    run_at = forms.DateTimeField(required=False, label="Run once at (UTC)",
                                 widget=forms.DateTimeInput(attrs={"placeholder": "2026-12-01 06:00"}))
    # When a daily, weekly or monthly schedule runs, in its time zone (the user's, to begin with).
    weekday = forms.TypedChoiceField(choices=Schedule.Weekday.choices, coerce=int, required=False,
                                     label="Day of the week", help_text="Weekly schedules.",
                                     error_messages={"invalid_choice": "%(value)s is not a day of the week; choose "
                                                                       "Monday to Sunday."})
    day_of_month = forms.IntegerField(required=False, min_value=1, max_value=31, label="Day of the month",
                                      help_text="Monthly schedules. 29 to 31: the month's last day in shorter months.",
                                      error_messages={"invalid": "Give a day of the month, 1 to 31."})
    time_of_day = forms.TimeField(required=False, label="Time of day", input_formats=["%H:%M", "%H:%M:%S"],
                                  widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
                                  error_messages={"invalid": "Give a time of day as HH:MM, 00:00 to 23:59."})
    time_zone = forms.ChoiceField(required=False, label="Time zone",
                                  choices=lambda: [(zone, zone.replace("_", " ")) for zone in time_zone_names()],
                                  help_text="The day, the time and the days a report covers are this zone's.",
                                  error_messages={"invalid_choice": "%(value)s is not a time zone name such as "
                                                                    "Europe/Paris or Asia/Tokyo."})
    recipients = forms.CharField(required=False, label="Email to",
                                 help_text="Addresses separated by commas or new lines.",
                                 widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    field_order = ["name", "report_type", "framework", "period", "recurrence", "weekday", "day_of_month", "time_of_day",
                   "time_zone", "cron", "run_at", "recipients",
                   "subject", "query", "sections", "grouping", "metrics", "format", "include_evidence", "enabled"]

    def clean_recipients(self):
        raw = self.cleaned_data.get("recipients") or ""
        addresses = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
        validator = forms.EmailField()
        bad = []
        for address in addresses:
            try:
                validator.clean(address)
            except forms.ValidationError:
                bad.append(address)
        if bad:
            raise forms.ValidationError(f"not an email address: {', '.join(bad[:5])}")
        if len(addresses) > 50:
            raise forms.ValidationError("at most 50 recipients")
        return addresses

    def clean(self):
        cleaned = super().clean()
        recurrence = cleaned.get("recurrence")
        if recurrence == Schedule.Recurrence.CRON and not cron_valid(cleaned.get("cron") or ""):
            self.add_error("cron", "Five fields, e.g. '0 6 * * 1' (06:00 UTC every Monday).")
        # A day or time left empty is the one schedules always had (Monday, the 1st, 06:00); the
        # zone, the user's own (their preference, UTC if none).
        if cleaned.get("weekday") in (None, ""):
            cleaned["weekday"] = Schedule.Weekday.MONDAY
        if cleaned.get("day_of_month") is None and "day_of_month" not in self.errors:
            cleaned["day_of_month"] = 1
        if cleaned.get("time_of_day") is None and "time_of_day" not in self.errors:
            cleaned["time_of_day"] = time(6, 0)
        if not cleaned.get("time_zone") and "time_zone" not in self.errors:
            cleaned["time_zone"] = self.user_time_zone()
        if recurrence == Schedule.Recurrence.ONCE:
            run_at = cleaned.get("run_at")
            if not run_at:
                self.add_error("run_at", "A one-time report needs the time to make it.")
            elif run_at <= timezone.now():
                self.add_error("run_at", "Choose a time in the future.")
        return cleaned

    def user_time_zone(self) -> str:
        return (preference_get(user=self.user).time_zone if self.user is not None else "") or "UTC"

    def schedule_values(self) -> dict:
        data = self.cleaned_data
        return {
            "weekday": data["weekday"], "day_of_month": data["day_of_month"], "time_of_day": data["time_of_day"],
            "time_zone": data["time_zone"],
            "name": data["name"], "report_type": data["report_type"], "framework": data.get("framework"),
            "query": data.get("query") or "", "subject": data.get("subject") or "",
            "grouping": data.get("grouping") or "", "metrics": data.get("metrics") or [],
            "sections": data.get("sections") or [], "format": data["format"],
            "include_evidence": bool(data.get("include_evidence")), "period": data["period"],
            "recurrence": data["recurrence"], "cron": (data.get("cron") or "").strip(),
            "run_at": data.get("run_at"), "recipients": data.get("recipients") or [],
            "enabled": bool(data.get("enabled")),
        }


def schedule_next(schedule: Schedule) -> datetime | None:
    return next_run(schedule, after=timezone.now()) if schedule.enabled else None


class EvidenceForm(forms.Form):
    """One evidence query of a control, as an administrator edits it."""

    title = forms.CharField(max_length=200)
    query = forms.CharField(widget=forms.TextInput(attrs={"class": "mono"}))
    shows = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    DELETE = forms.BooleanField(required=False, label="Remove")

    def clean_query(self):
        query = self.cleaned_data["query"].strip()
        try:
            validate_query(query)
        except QueryError as error:
            raise forms.ValidationError(str(error)) from None
        return query


EvidenceFormSet = forms.formset_factory(EvidenceForm, extra=1, max_num=12, validate_max=True)
