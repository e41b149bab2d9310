"""The export form (a format for the viewer's current search) and the template form."""
from __future__ import annotations

from django import forms

from apps.search.formats import FORMATS, TEMPLATE
from apps.search.formats.template import TemplateInvalid, template_compile
from apps.exports.formats import export_template_list
from apps.exports.models import ExportTemplate


class ExportForm(forms.Form):
    format = forms.ChoiceField(label="Format")
    qs = forms.CharField(required=False, widget=forms.HiddenInput, max_length=8192)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(fmt.name, fmt.label) for fmt in FORMATS.values()]
        templates = [(f"{TEMPLATE}:{t.pk}", f"{t.name}{'' if t.owner_id else ' (shared)'}")
                     for t in export_template_list(principal=user)]
        self.fields["format"].choices = [("Formats", choices)] + ([("Your templates", templates)] if templates else [])

    def clean_format(self) -> str:
        return self.cleaned_data["format"]

    @property
    def format_name(self) -> str:
        return self.cleaned_data["format"].partition(":")[0]

    @property
    def template_id(self) -> int | None:
        _, _, pk = self.cleaned_data["format"].partition(":")
        return int(pk) if pk else None


class ExportTemplateForm(forms.ModelForm):
    shared = forms.BooleanField(required=False, label="Shared with everyone who may export",
                                help_text="Only an administrator (streams and exports) may share a template.")

    class Meta:
        model = ExportTemplate
        fields = ["name", "description", "header", "source", "footer", "extension", "content_type"]
        widgets = {
            "source": forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"}),
            "header": forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false"}),
            "footer": forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false"}),
        }
        labels = {"source": "Template (per event)", "content_type": "Content type"}
        help_texts = {
            "source": "Jinja2, sandboxed. The event is `event` (event.action, event.actor.id, event.seq...). "
                      "Escape with the filters csv, cef_value, leef_value, syslog_value, json, html, oneline.",
            "header": "Written once before the events (optional).",
            "extension": "File extension, e.g. txt, csv, html.",
        }

    def __init__(self, *args, may_share: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_share = may_share
        if self.instance.pk:
            self.fields["shared"].initial = self.instance.owner_id is None
        if not may_share:
            self.fields["shared"].disabled = True

    def clean_source(self) -> str:
        source = self.cleaned_data["source"]
        try:
            template_compile(source)
        except TemplateInvalid as error:
            raise forms.ValidationError(str(error)) from None
        return source

    def clean_extension(self) -> str:
        value = (self.cleaned_data.get("extension") or "txt").strip().lower()
        if not value.replace(".", "").isalnum() or len(value) > 16:
            raise forms.ValidationError("letters and digits only (a dot between parts), e.g. csv or ocsf.json")
        return value

    def clean_content_type(self) -> str:
        value = (self.cleaned_data.get("content_type") or "").strip()
        if value.split(";")[0].strip() not in ("text/plain", "text/csv", "text/html", "application/json",
                                               "application/x-ndjson", "application/xml", "text/xml"):
            raise forms.ValidationError("one of text/plain, text/csv, text/html, application/json, "
                                        "application/x-ndjson, application/xml, text/xml (a charset may follow)")
        return value
