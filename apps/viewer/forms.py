"""Forms of the viewer's own pages (saved queries, preferences): parsing and validation only."""
from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.http import QueryDict
from django.utils.text import slugify

from apps.viewer.columns import COLUMNS, DEFAULT_COLUMNS
from apps.search.filters import filter_q
from apps.rbac.models import UserPreference
from apps.rbac.time_zones import time_zone_names, validate_time_zone
from apps.viewer.models import SavedQuery
from apps.viewer.saved_queries import SAVED_PARAMS, querystring_clean


class SavedQueryForm(forms.Form):
    """Name, describe and share a search. `q` and `filters` together make its query string."""

    name = forms.CharField(max_length=120, help_text="Shown in the list, e.g. “Weekend admin actions”.")
    slug = forms.SlugField(max_length=140, required=False,
                           help_text="Used in links (/events/?saved=<slug>). Left empty, it is made from the name.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What it finds and when to use it.")
    q = forms.CharField(label="Query", required=False, widget=forms.TextInput(attrs={"spellcheck": "false"}),
                        help_text="In the query language, e.g. result = failure AND auth_method = password.")
    filters = forms.CharField(label="Filters", required=False, widget=forms.TextInput(attrs={"spellcheck": "false"}),
                              help_text="The filter bar's settings as URL parameters, e.g. range=24h&outcome=failure.")
    shared = forms.BooleanField(label="Share with everyone", required=False,
                                help_text="Every console user can run a shared query; only you can change it. "
                                          "Each person still sees only the events they may see.")

    def __init__(self, *args, owner, instance: SavedQuery | None = None, **kwargs):
        self.owner = owner
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            params = QueryDict(instance.querystring)
            kwargs["initial"] = {
                "name": instance.name, "slug": instance.slug, "description": instance.description,
                "q": params.get("q", ""), "filters": _without_q(params), "shared": instance.shared,
            }
        super().__init__(*args, **kwargs)

    @classmethod
    def initial_from_viewer(cls, params: QueryDict) -> dict:
        """Initial values from the viewer's URL (the "Save this search" link carries it)."""
        clean = QueryDict(querystring_clean(params))
        return {"q": clean.get("q", ""), "filters": _without_q(clean)}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A saved query needs a name.")
        return name

    def clean_q(self) -> str:
        text = self.cleaned_data.get("q", "").strip()
        _, errors = filter_q({"q": text})
        if errors:
            raise forms.ValidationError(errors["q"])
        return text

    def clean_filters(self) -> str:
        text = self.cleaned_data.get("filters", "").strip().lstrip("?")
        params = QueryDict(text)
        if "q" in params:
            raise forms.ValidationError("Write the query in the Query box, not as q= here.")
        unknown = sorted(key for key in params if key not in SAVED_PARAMS)
        if unknown:
            raise forms.ValidationError(f"Unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
        _, errors = filter_q(params)
        if errors:
            raise forms.ValidationError([f"{name}: {message}" for name, messages in errors.items() for message in messages])
        return querystring_clean(params)

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name")
        if name is None:
            return cleaned
        slug = cleaned.get("slug") or slugify(name)[:140]
        field = "slug" if cleaned.get("slug") else "name"
        if not slug:
            self.add_error(field, "Use some letters or digits, so the query gets a link.")
            return cleaned
        taken = SavedQuery.objects.filter(owner=self.owner, slug=slug)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            self.add_error(field, f"You already have a saved query with the link name “{slug}”; choose another "
                                  + ("slug." if field == "slug" else "name or set a slug."))
        cleaned["slug"] = slug
        if "q" in cleaned and "filters" in cleaned:
            params = QueryDict(cleaned["filters"], mutable=True)
            if cleaned["q"]:
                params["q"] = cleaned["q"]
            cleaned["querystring"] = querystring_clean(params)
        return cleaned


def _without_q(params: QueryDict) -> str:
    return urlencode([(key, value) for key in params if key != "q" for value in params.getlist(key)])


class PreferenceForm(forms.Form):
    """The viewer's per-user settings."""

    # Chosen from the list of zones this server knows; until the user saves one, the page
    # preselects the browser's own zone (static/js/preferences.js).
    time_zone = forms.ChoiceField(
        choices=lambda: [(zone, zone.replace("_", " ")) for zone in time_zone_names()],
        widget=forms.Select(attrs={"data-browser-zone": ""}),
        error_messages={"invalid_choice": "%(value)s is not a time zone name such as Europe/Paris or Asia/Dhaka."},
        help_text="Times are shown in UTC with this zone beside them. Until you save one, your browser's zone is chosen.",
    )
    columns = forms.MultipleChoiceField(
        choices=[(column.key, column.label) for column in COLUMNS], required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The viewer's columns after the time. None ticked: the default set.",
    )

    @classmethod
    def initial_for(cls, preference: UserPreference) -> dict:
        return {"time_zone": preference.time_zone or "UTC", "columns": list(preference.columns) or list(DEFAULT_COLUMNS)}

    def clean_time_zone(self) -> str:
        zone = self.cleaned_data["time_zone"].strip()
        validate_time_zone(zone)
        return zone
