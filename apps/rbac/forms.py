"""Forms of the access pages: parsing and validation only; the writes are in the verb modules."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone as dt_timezone

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.core.validators import RegexValidator
from django.utils import timezone

from apps.rbac.models import ApiToken, Role, Team
from apps.rbac.tokens import parse_duration

_PROJECT = RegexValidator(r"^[A-Za-z0-9_.:/-]{1,100}$", "Project names are letters, digits and _ . : / - only.")

LIFETIMES = [("1h", "1 hour"), ("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"),
             ("365d", "1 year")]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=dt_timezone.utc)


def day_after(day: date) -> datetime:
    """The end of an inclusive date range: midnight UTC after the day."""
    return day_start(day) + timedelta(days=1)


class ProjectsField(forms.CharField):
    """Projects as a comma- or space-separated list; empty means every project."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated. Leave empty for every project.")
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        names = [part.strip() for part in text.replace(",", " ").split() if part.strip()]
        for name in names:
            _PROJECT(name)
        return sorted(set(names))


class DateInput(forms.DateInput):
    """An ISO date (2026-12-01), as everywhere else in the console: a browser's date picker would
    show the locale's order (12/01/2026 in the US)."""

    input_type = "text"

    def __init__(self, attrs=None):
        super().__init__(attrs={"placeholder": "YYYY-MM-DD", "pattern": r"\d{4}-\d{2}-\d{2}", "inputmode": "numeric",
                                "autocomplete": "off", **(attrs or {})}, format="%Y-%m-%d")


def _active_users():
    return get_user_model().objects.filter(is_active=True, auditor_link__isnull=True).order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        name = obj.get_full_name()
        return f"{obj.get_username()} ({name})" if name else obj.get_username()


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150, validators=[RegexValidator(
        r"^[\w.@+-]+$", "Use letters, digits and @ . + - _ only (no spaces).")])
    email = forms.EmailField(required=False, help_text="Their events are matched by this address too.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to create an invitation link with which they choose their own.",
    )

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password and data.get("username"):
            probe = get_user_model()(username=data["username"], email=data.get("email") or "",
                                     first_name=data.get("first_name") or "", last_name=data.get("last_name") or "")
            try:
                password_validation.validate_password(password, probe)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data


class RoleAssignForm(forms.Form):
    user = UserChoiceField(queryset=_active_users(), empty_label="Choose a user…")
    role = forms.ModelChoiceField(queryset=Role.objects.order_by("position"), empty_label="Choose a role…")
    projects = ProjectsField()
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.order_by("name"), required=False,
        help_text="Managers only: whose events they see. Empty means the teams they belong to.",
    )
    window_start = forms.DateField(required=False, widget=DateInput, label="Window from",
                                   help_text="External auditors: first day of the audit period (UTC).")
    window_end = forms.DateField(required=False, widget=DateInput, label="Window to",
                                 help_text="Last day of the audit period, included.")
    expires_on = forms.DateField(required=False, widget=DateInput, label="Access until",
                                 help_text="The role stops counting after this day (UTC). Empty: no end.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Querysets are evaluated per form, so users created since start-up are offered.
        self.fields["user"].queryset = _active_users()

    def clean(self):
        data = super().clean()
        start, end, role = data.get("window_start"), data.get("window_end"), data.get("role")
        if bool(start) != bool(end):
            self.add_error("window_end" if start else "window_start", "Give both ends of the window, or neither.")
        elif start and end and start > end:
            self.add_error("window_end", "The window must end on or after the day it starts.")
        if role is not None and role.slug == Role.Slug.EXTERNAL_AUDITOR:
            if not start:
                self.add_error("window_start", "An External Auditor needs the audit period: give the window.")
            if not data.get("expires_on"):
                self.add_error("expires_on", "An External Auditor's access must end: give the last day.")
        expires = data.get("expires_on")
        if expires and day_after(expires) <= timezone.now():
            self.add_error("expires_on", "This day is already over; pick today or a later day.")
        if data.get("teams") and role is not None and role.slug != Role.Slug.MANAGER:
            self.add_error("teams", "Only a Manager's assignment names teams.")
        return data

    def limits(self) -> dict:
        data = self.cleaned_data
        return {
            "projects": data["projects"],
            "teams": list(data["teams"]),
            "window_start": day_start(data["window_start"]) if data.get("window_start") else None,
            "window_end": day_after(data["window_end"]) if data.get("window_end") else None,
            "expires_at": day_after(data["expires_on"]) if data.get("expires_on") else None,
        }


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False)


class TeamMemberForm(forms.Form):
    user = UserChoiceField(queryset=_active_users(), empty_label="Choose a user…")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _active_users()


class TokenIssueForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses the token, e.g. “billing-service ingest”.")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices)
    user = UserChoiceField(queryset=_active_users(), required=False, empty_label="— no user —",
                           help_text="Read tokens: the token sees exactly what this user sees. Empty: every event.")
    projects = ProjectsField()
    window_start = forms.DateField(required=False, widget=DateInput, label="Window from",
                                   help_text="Auditor tokens: first day of the audit period (UTC).")
    window_end = forms.DateField(required=False, widget=DateInput, label="Window to")
    expires_in = forms.ChoiceField(choices=LIFETIMES, initial="30d", label="Expires in")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _active_users()

    def clean_expires_in(self) -> timedelta:
        return parse_duration(self.cleaned_data["expires_in"])

    def clean(self):
        data = super().clean()
        start, end, scope = data.get("window_start"), data.get("window_end"), data.get("scope")
        if bool(start) != bool(end):
            self.add_error("window_end" if start else "window_start", "Give both ends of the window, or neither.")
        elif start and end and start > end:
            self.add_error("window_end", "The window must end on or after the day it starts.")
        if scope == ApiToken.Scope.AUDITOR and not start:
            self.add_error("window_start", "An auditor token needs the audit period: give the window.")
        if scope == ApiToken.Scope.INGEST and data.get("user"):
            self.add_error("user", "Ingest tokens write events; only read and auditor tokens act for a user.")
        return data

    def issue_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "scope": data["scope"],
            "user": data.get("user"),
            "projects": data["projects"],
            "window_start": day_start(data["window_start"]) if data.get("window_start") else None,
            "window_end": day_after(data["window_end"]) if data.get("window_end") else None,
            "expires_in": data["expires_in"],
        }


class AuditorLinkForm(forms.Form):
    label = forms.CharField(max_length=150, label="For", help_text="The audit firm and engagement, e.g. “KPMG — SOC 2 FY2025”.")
    email = forms.EmailField(required=False, help_text="The auditor's address, for the record.")
    window_start = forms.DateField(widget=DateInput, label="Audit period from")
    window_end = forms.DateField(widget=DateInput, label="Audit period to", help_text="Included.")
    projects = ProjectsField()
    expires_in = forms.ChoiceField(choices=LIFETIMES[1:], initial="30d", label="Link valid for")

    def clean_expires_in(self) -> timedelta:
        return parse_duration(self.cleaned_data["expires_in"])

    def clean(self):
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and start > end:
            self.add_error("window_end", "The audit period must end on or after the day it starts.")
        return data

    def create_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "label": data["label"],
            "email": data.get("email") or "",
            "projects": data["projects"],
            "window_start": day_start(data["window_start"]),
            "window_end": day_after(data["window_end"]),
            "expires_at": timezone.now() + data["expires_in"],
        }
