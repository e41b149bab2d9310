"""The destination form: the common settings, plus the chosen kind's own (prefixed cfg_)."""
from __future__ import annotations

from django import forms
from django.core.validators import URLValidator
from django.utils import timezone

from apps.search.formats import FORMATS
from apps.events.query import QueryError, parse_query
from apps.streams.destinations import KINDS
from apps.streams.models import Destination


def _config_field(spec):
    common = {"label": spec.label, "required": spec.required, "help_text": spec.help,
              "initial": spec.default if spec.default != "" else None}
    if spec.type == "int":
        return forms.IntegerField(min_value=1, max_value=1_000_000, **common)
    if spec.type == "bool":
        return forms.BooleanField(**{**common, "required": False})
    if spec.type == "choice":
        return forms.ChoiceField(choices=spec.choices, **common)
    if spec.type == "textarea":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}), max_length=20_000, **common)
    if spec.type == "url":
        return forms.CharField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])], **common)
    return forms.CharField(max_length=500, **common)


class DestinationForm(forms.ModelForm):
    secret = forms.CharField(required=False, max_length=20_000, widget=forms.PasswordInput(render_value=False),
                             help_text="Stored encrypted. Leave empty to keep the stored one.")
    start = forms.ChoiceField(choices=(("now", "New events only (from now on)"), ("beginning", "The whole log")),
                              initial="now", label="Start with", required=False)

    class Meta:
        model = Destination
        fields = ["name", "format", "query", "batch_max_events", "batch_max_bytes", "failing_after", "enabled"]
        labels = {"query": "Filter", "batch_max_events": "Events per batch", "batch_max_bytes": "Bytes per batch",
                  "failing_after": "Failing after (consecutive failures)", "enabled": "Enabled"}
        help_texts = {"query": "Query language; empty sends every event. e.g. category:auth OR severity:>=high"}
        widgets = {"query": forms.TextInput(attrs={"class": "mono", "placeholder": "every event"}),
                   "format": forms.Select}

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = KINDS[kind]
        self.fields["format"] = forms.ChoiceField(
            label="Format", choices=[(name, FORMATS[name].label) for name in self.kind.formats],
            initial=self.kind.default_format)
        self.fields["secret"].label = self.kind.secret_label or "Secret"
        if not self.kind.secret_label:
            del self.fields["secret"]
        if self.instance.pk:
            del self.fields["start"]
        self.fields["batch_max_events"].initial = self.kind.max_events
        self.fields["batch_max_events"].validators.append(_at_most(self.kind.max_events))
        self.fields["batch_max_bytes"].initial = min(self.kind.max_bytes, 1_000_000)
        self.fields["batch_max_bytes"].validators.append(_at_most(self.kind.max_bytes))
        self.config_names = []
        for spec in self.kind.fields:
            name = f"cfg_{spec.name}"
            self.fields[name] = _config_field(spec)
            if self.instance.pk and spec.name in self.instance.config:
                self.fields[name].initial = self.instance.config[spec.name]
            self.config_names.append(name)

    def config_fields(self):
        return [self[name] for name in self.config_names]

    def clean_query(self) -> str:
        query = (self.cleaned_data.get("query") or "").strip()
        if query:
            try:
                parse_query(query, now=timezone.now())
            except QueryError as error:
                raise forms.ValidationError(f"not a valid query: {error}") from None
        return query

    def clean(self):
        cleaned = super().clean()
        if self.kind.secret_required and "secret" in self.fields and not cleaned.get("secret") \
                and not (self.instance.pk and self.instance.secret):
            self.add_error("secret", f"{self.kind.secret_label} is required for {self.kind.label}.")
        cleaned["kind"] = self.kind.name
        cleaned["config"] = {spec.name: cleaned.get(f"cfg_{spec.name}") for spec in self.kind.fields
                             if cleaned.get(f"cfg_{spec.name}") not in (None, "")}
        return cleaned


def _at_most(limit: int):
    def check(value):
        if value is not None and value > limit:
            raise forms.ValidationError(f"at most {limit:,} for this kind of destination")
    return check


class ReplayForm(forms.Form):
    from_seq = forms.IntegerField(required=False, min_value=1, label="From seq")
    from_time = forms.DateTimeField(required=False, label="Or from time (UTC)",
                                    widget=forms.TextInput(attrs={"placeholder": "2026-03-01 00:00"}))

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("from_seq") is None) == (cleaned.get("from_time") is None) and not self.errors:
            raise forms.ValidationError("Give a seq or a time to replay from (one of them).")
        return cleaned
