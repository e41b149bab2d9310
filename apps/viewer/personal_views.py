"""The viewer's per-user pages: saved queries (own and shared) and preferences."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.viewer.columns import DEFAULT_COLUMNS
from apps.viewer.forms import PreferenceForm, SavedQueryForm
from apps.rbac.preferences import preference_get, preference_update
from apps.viewer.saved_queries import (
    querystring_summary, saved_query_create, saved_query_delete, saved_query_for_change, saved_query_list,
    saved_query_update,
)
from apps.rbac.audit_trail import Actor
from apps.rbac.permissions import requires


def run_url(saved, user) -> str:
    """/events/?saved=<slug>, naming the owner when the query is someone else's."""
    params = {"saved": saved.slug}
    if saved.owner_id != user.pk:
        params["owner"] = saved.owner.get_username()
    return reverse("events:list") + "?" + urlencode(params)


@require_http_methods(["GET"])
@requires("rbac.use_saved_queries")
def saved_query_index(request: HttpRequest) -> HttpResponse:
    queries = list(saved_query_list(user=request.user))
    for saved in queries:
        saved.run_url = run_url(saved, request.user)
        saved.query_text = _query_text(saved.querystring)
        saved.summary = querystring_summary(saved.querystring)
    mine = [saved for saved in queries if saved.owner_id == request.user.pk]
    shared = [saved for saved in queries if saved.owner_id != request.user.pk]
    return render(request, "events/saved_query_list.html", {"mine": mine, "shared": shared})


@require_http_methods(["GET", "POST"])
@requires("rbac.use_saved_queries")
def saved_query_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SavedQueryForm(request.POST, owner=request.user)
        if form.is_valid():
            data = form.cleaned_data
            saved = saved_query_create(
                actor=Actor.from_request(request), owner=request.user, name=data["name"], slug=data["slug"],
                description=data["description"], querystring=data["querystring"], shared=data["shared"],
            )
            messages.success(request, f"Saved “{saved.name}”.")
            # Back to the results, now under the saved query's name.
            return redirect(run_url(saved, request.user))
    else:
        form = SavedQueryForm(owner=request.user, initial=SavedQueryForm.initial_from_viewer(request.GET))
    filters = form.initial.get("filters", "") if not form.is_bound else form.data.get("filters", "")
    return render(request, "events/saved_query_form.html", {
        "form": form, "saved": None, "filters_summary": querystring_summary(filters),
    })


@require_http_methods(["GET", "POST"])
@requires("rbac.use_saved_queries")
def saved_query_edit(request: HttpRequest, pk: int) -> HttpResponse:
    saved = saved_query_for_change(user=request.user, pk=pk)
    if request.method == "POST":
        form = SavedQueryForm(request.POST, owner=request.user, instance=saved)
        if form.is_valid():
            data = form.cleaned_data
            saved_query_update(
                actor=Actor.from_request(request), saved=saved, name=data["name"], slug=data["slug"],
                description=data["description"], querystring=data["querystring"], shared=data["shared"],
            )
            messages.success(request, f"Updated “{saved.name}”.")
            return redirect("events:saved")
    else:
        form = SavedQueryForm(owner=request.user, instance=saved)
    return render(request, "events/saved_query_form.html", {"form": form, "saved": saved})


@require_POST
@requires("rbac.use_saved_queries")
def saved_query_remove(request: HttpRequest, pk: int) -> HttpResponse:
    saved = saved_query_for_change(user=request.user, pk=pk)
    name = saved.name
    saved_query_delete(actor=Actor.from_request(request), saved=saved)
    messages.success(request, f"Deleted “{name}”.")
    return redirect("events:saved")


@require_http_methods(["GET", "POST"])
@requires("events.view_event")
def preferences(request: HttpRequest) -> HttpResponse:
    preference = preference_get(user=request.user)
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            columns = form.cleaned_data["columns"]
            preference_update(user=request.user, time_zone=form.cleaned_data["time_zone"],
                              columns=[] if list(columns) == list(DEFAULT_COLUMNS) else columns)
            messages.success(request, "Preferences saved.")
            return redirect("events:preferences")
    else:
        form = PreferenceForm(initial=PreferenceForm.initial_for(preference))
    return render(request, "events/preferences_form.html", {
        "form": form, "saved_zone": not preference._state.adding,
    })


def _query_text(querystring: str) -> str:
    return QueryDict(querystring).get("q", "")
