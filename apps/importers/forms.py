"""The import page's forms: parsing and validation only."""
from __future__ import annotations

from django import forms

from apps.importers.formats import format_choices

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class UploadForm(forms.Form):
    file = forms.FileField(label="Log file", help_text="JSON, JSON Lines or CSV, gzip or not; up to 50 MiB. "
                                                      "Larger files: manage.py import_events.")
    format = forms.ChoiceField(label="Format", initial="auto",
                               help_text="Auto-detect tells the format from the file's content.")
    project = forms.CharField(label="Project", required=False, max_length=200,
                              help_text="Store every event under this project. Empty: the source's account or project.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = [("auto", "Auto-detect"), *format_choices()]

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"is {file.size / 1024 / 1024:.1f} MiB; the page takes up to 50 MiB "
                                        "(import larger files with manage.py import_events)")
        if file.size == 0:
            raise forms.ValidationError("is empty")
        return file

    def clean_project(self):
        project = self.cleaned_data["project"].strip()
        if "\x00" in project:
            raise forms.ValidationError("must be plain text")
        return project


class ConfirmForm(forms.Form):
    upload = forms.CharField(max_length=64)
