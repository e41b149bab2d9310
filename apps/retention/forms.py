"""Parsing and validation of the retention page's forms; the rules themselves are in
policies.policy_check (shared with the API and the importer)."""
from __future__ import annotations

import re

from django import forms

from apps.retention.policies import PolicyData, PolicyError, policy_check


def split_types(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,\s]+", text or "") if part.strip())


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    event_types = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="Event types this policy keeps, separated by commas or lines: "
                                            "resource.delete, authentication.* (the most specific pattern wins).")
    # Plain integers (not PositiveIntegerField's widget min) so that the message says which
    # field is wrong and why, from the same rule the API and the importer apply.
    hot_days = forms.IntegerField(label="Hot days", help_text="Searchable in the events table until this age.")
    warm_days = forms.IntegerField(label="Warm days", help_text="Archived (Parquet, searchable with “include archive”) until this age.")
    cold_months = forms.IntegerField(label="Cold months", help_text="In cold storage until this age, then deleted "
                                                                    "(the chain stubs stay). 0: delete at the end of warm.")

    field_names = {"hot_days", "warm_days", "cold_months", "event_types", "name"}

    def __init__(self, *args, instance=None, **kwargs):
        self.instance = instance
        super().__init__(*args, **kwargs)
        if instance is not None and instance.is_default:
            self.fields["event_types"].disabled = True
            self.fields["event_types"].help_text = "The default policy takes every event no other policy names."

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = PolicyData(name=cleaned["name"], event_types=split_types(cleaned.get("event_types", "")),
                          hot_days=cleaned["hot_days"], warm_days=cleaned["warm_days"],
                          cold_months=cleaned["cold_months"])
        try:
            policy_check(data, instance=self.instance)
        except PolicyError as error:
            if error.field in self.fields:
                self.add_error(error.field, error.message)
            else:
                raise forms.ValidationError(error.message) from None
        cleaned["data"] = data
        return cleaned


class HoldForm(forms.Form):
    name = forms.CharField(max_length=200)
    query = forms.CharField(max_length=2000, help_text="Query language: actor:alice AND project:payments "
                                                       "AND time = 2026-01-01..2026-03-31")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    owner = forms.CharField(max_length=200, help_text="Who answers for the hold (legal counsel, case number).")
    ends_at = forms.DateTimeField(required=False, label="Ends at (UTC)", help_text="Empty: until released.",
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class RestoreForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=365, initial=7, label="Restore for (days)")
