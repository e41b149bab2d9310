"""Forms of the alert pages: parsing and validation only (the meaning is apps.alerts.spec)."""
from __future__ import annotations

import re
from datetime import timedelta

from django import forms

from apps.alerts.channels import CHANNELS
from apps.alerts.models import AlertRule, Severity
from apps.alerts.spec import duration_parse, rule_errors

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HOURS = re.compile(r"^\s*(\d\d:\d\d)\s*-\s*(\d\d:\d\d)(?:\s+([A-Za-z]{3})(?:\s*-\s*([A-Za-z]{3}))?)?(?:\s+(\S+))?\s*$")


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text or "") if part.strip()]


def working_hours_parse(text: str) -> dict:
    """`08:00-19:00 Mon-Fri Europe/Paris` → {"start", "end", "days", "timezone"}; ValueError if not."""
    if not text.strip():
        return {}
    match = _HOURS.match(text)
    if match is None:
        raise ValueError("write hours like 08:00-19:00 Mon-Fri Europe/Paris")
    start, end, first, last, tz = match.groups()
    days = [0, 1, 2, 3, 4]
    if first:
        if first.lower() not in _DAYS or (last and last.lower() not in _DAYS):
            raise ValueError("days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
        a, b = _DAYS.index(first.lower()), _DAYS.index((last or first).lower())
        days = list(range(a, b + 1)) if a <= b else list(range(a, 7)) + list(range(0, b + 1))
    return {"start": start, "end": end, "days": days, "timezone": tz or "UTC"}


def working_hours_text(hours: dict) -> str:
    if not hours:
        return ""
    days = hours.get("days", [0, 1, 2, 3, 4])
    span = _DAYS[days[0]].title() + ("-" + _DAYS[days[-1]].title() if len(days) > 1 else "")
    return f"{hours['start']}-{hours['end']} {span} {hours.get('timezone', 'UTC')}"


class RuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(choices=AlertRule.Kind.choices)
    severity = forms.ChoiceField(choices=Severity.choices, initial="medium")
    condition = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false"}),
                                help_text="In the query language, as in the Events search box: "
                                          "action:auth.login AND outcome:failure")
    then_condition = forms.CharField(required=False, label="Then (sequence)",
                                     widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false"}),
                                     help_text="Sequence only: the event that must follow, e.g. action:auth.login AND outcome:success")
    threshold = forms.IntegerField(min_value=1, max_value=1_000_000, initial=1, label="Count",
                                   help_text="Threshold: events (or distinct values) needed in the window. "
                                             "Sequence: events of the first step needed before the second.")
    window = forms.CharField(required=False, max_length=20, help_text="A duration: 30s, 5m, 1h, 7d.")
    group_by = forms.CharField(required=False, label="Group by",
                               help_text="Fields, comma separated: actor.email, ip, resource.id, project, "
                                         "metadata.<path>; actor is the actor's email, name or id.")
    distinct_field = forms.CharField(required=False, label="Distinct / new value of",
                                     help_text="Threshold: count distinct values of this field. "
                                               "First seen: the field whose new values are reported (e.g. ip).")
    learning_period = forms.CharField(required=False, max_length=20, help_text="First seen: values seen in this "
                                      "first period (by event time) are learnt, not reported. E.g. 7d.")
    working_hours = forms.CharField(required=False, label="Only outside working hours",
                                    help_text="E.g. 08:00-19:00 Mon-Fri Europe/Paris: the rule then fires only for "
                                              "events outside these hours.")
    channels = forms.CharField(required=False, help_text="Channel names or kinds, comma separated (email, slack, …).")
    recipients = forms.CharField(required=False, help_text="Extra email addresses for email channels.")
    enabled = forms.BooleanField(required=False, initial=True)

    @classmethod
    def for_rule(cls, rule: AlertRule) -> "RuleForm":
        return cls(initial={
            "name": rule.name, "description": rule.description, "kind": rule.kind, "severity": rule.severity,
            "condition": rule.condition, "then_condition": rule.then_condition, "threshold": rule.threshold,
            "window": rule.window, "group_by": ", ".join(rule.group_by), "distinct_field": rule.distinct_field,
            "learning_period": rule.learning_period, "working_hours": working_hours_text(rule.working_hours),
            "channels": ", ".join(rule.channels), "recipients": ", ".join(rule.recipients), "enabled": rule.enabled,
        })

    def clean(self):
        data = super().clean()
        try:
            data["working_hours"] = working_hours_parse(data.get("working_hours") or "")
        except ValueError as error:
            self.add_error("working_hours", str(error))
            data["working_hours"] = {}
        for name in ("group_by", "channels", "recipients"):
            data[name] = _split(data.get(name) or "")
        for name, message in rule_errors(self.values()).items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, message)
        return data

    def values(self) -> dict:
        data = self.cleaned_data
        values = {key: data.get(key) for key in self.fields}
        values["threshold"] = data.get("threshold") or 1
        for key in ("description", "condition", "then_condition", "window", "distinct_field", "learning_period"):
            values[key] = (values.get(key) or "").strip()
        values["enabled"] = bool(data.get("enabled"))
        return values


class BacktestForm(forms.Form):
    period = forms.CharField(initial="7d", max_length=10, label="Backtest over the last", help_text="How far back to run the rule: 1h, 24h, 7d, 30d.")

    def clean_period(self):
        try:
            return duration_parse(self.cleaned_data["period"], maximum=timedelta(days=90))
        except ValueError as error:
            raise forms.ValidationError(str(error))


class CommentForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class SilenceForm(forms.Form):
    rule = forms.ModelChoiceField(queryset=AlertRule.objects.order_by("name"), required=False,
                                  empty_label="Any rule (use the query)")
    query = forms.CharField(required=False, widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
                            help_text="Only alerts raised by events matching this query, e.g. ip:10.0.0.0/8")
    duration = forms.CharField(initial="4h", max_length=10, label="For", help_text="1h, 4h, 1d, 7d (at most 90d).")
    comment = forms.CharField(required=False, max_length=2000)

    def clean_duration(self):
        try:
            return duration_parse(self.cleaned_data["duration"], maximum=timedelta(days=90))
        except ValueError as error:
            raise forms.ValidationError(str(error))


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=[(kind, module.LABEL) for kind, module in CHANNELS.items()])
    url = forms.CharField(required=False, max_length=2000, label="URL",
                          widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
                          help_text="Stored encrypted and never shown again; leave empty to keep the stored one.")
    secret = forms.CharField(required=False, max_length=500, label="Secret / routing key",
                             widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                             help_text="Webhook signing secret, or PagerDuty routing key. Stored encrypted; "
                                       "leave empty to keep the stored one.")
    recipients = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text="Email channel: addresses, one per line or comma separated.")
    enabled = forms.BooleanField(required=False, initial=True)

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["recipients"] = _split(data.get("recipients") or "")
        return data


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True, "accept": ".yml,.yaml"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)) and data:
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class SigmaUploadForm(forms.Form):
    """Sigma rule files (.yml), up to 500 files of 256 KiB each."""

    files = MultipleFileField(label="Sigma rule files", help_text="One or more .yml files from SigmaHQ or your own.")
    enable = forms.BooleanField(required=False, label="Enable the accepted rules now",
                                help_text="Off: they are stored disabled, to review first.")

    def clean_files(self):
        uploaded = [item for item in self.cleaned_data["files"] if item]
        if len(uploaded) > 500:
            raise forms.ValidationError("at most 500 files at once")
        files = []
        for item in uploaded:
            if item.size > 256 * 1024:
                raise forms.ValidationError(f"{item.name} is larger than 256 KiB")
            try:
                files.append((item.name, item.read().decode("utf-8")))
            except UnicodeDecodeError:
                raise forms.ValidationError(f"{item.name} is not UTF-8 text") from None
        return files
