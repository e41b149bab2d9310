"""Saved queries (/events/saved/) and the viewer's preferences (/events/preferences/)."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.events.ingest import event_ingest
from apps.viewer.models import SavedQuery, UserPreference
from apps.rbac.models import Role
from tests.factories import give_role


def analyst(username: str):
    user = get_user_model().objects.create_user(username, f"{username}@example.com")
    give_role(user, Role.Slug.SECURITY_ANALYST)
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(db):
    return {"ann": analyst("ann"), "ben": analyst("ben")}


@pytest.fixture
def queries(people):
    ann, ben = people["ann"], people["ben"]
    return {
        "ann-private": SavedQuery.objects.create(owner=ann, name="Ann's drafts", slug="drafts", querystring="q=actor%3Aann"),
        "ann-shared": SavedQuery.objects.create(owner=ann, name="Weekend admin actions", slug="weekend-admin",
                                                querystring="action=iam.%2A&range=7d", shared=True),
        "ben-private": SavedQuery.objects.create(owner=ben, name="Ben's secret", slug="secret", querystring="outcome=failure"),
        "ben-shared": SavedQuery.objects.create(owner=ben, name="Failed sign-ins", slug="failed-logins",
                                                querystring="action=auth.login&outcome=failure", shared=True),
    }


def test_the_list_shows_mine_and_those_shared_by_others_with_owner_and_sharing(people, queries):
    body = client_for(people["ann"]).get("/events/saved/").content.decode()
    mine, shared = body.split("Shared by others")
    assert "Ann&#x27;s drafts" in mine and "Weekend admin actions" in mine
    assert "Failed sign-ins" in shared and "ben" in shared
    assert "Ben&#x27;s secret" not in body
    assert '<span class="badge">private</span>' in mine and '<span class="badge badge-shared">shared</span>' in shared
    # Someone else's shared query can be run, not edited or deleted.
    assert f"/events/saved/{queries['ben-shared'].pk}/edit/" not in body
    assert "/events/?saved=failed-logins&amp;owner=ben" in body


def test_saving_the_current_search_keeps_its_querystring(people):
    client = client_for(people["ann"])
    form = client.get("/events/saved/new/", {"q": "outcome:failure", "range": "24h", "cursor": "x", "actor": ""})
    body = form.content.decode()
    assert 'value="outcome:failure"' in body and 'value="range=24h"' in body
    response = client.post("/events/saved/new/", {"name": "Failures today", "q": "outcome:failure",
                                                   "filters": "range=24h", "description": "For the morning check"})
    assert response.status_code == 302
    saved = SavedQuery.objects.get(owner=people["ann"])
    assert (saved.slug, saved.querystring, saved.shared) == ("failures-today", "q=outcome%3Afailure&range=24h", False)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": ""}, "name", "This field is required"),
    ({"name": "X", "q": "outcome:failure AND ("}, "q", "at column 21"),
    ({"name": "X", "filters": "outcome=sideways"}, "filters", "outcome: &#x27;sideways&#x27; is not a valid outcome"),
    ({"name": "X", "filters": "colour=red"}, "filters", "Unknown parameter: colour"),
    ({"name": "Ann's drafts"}, "name", "You already have a saved query with the link name “anns-drafts”"),
    ({"name": "Other", "slug": "drafts"}, "slug", "You already have a saved query with the link name “drafts”"),
])
def test_the_form_names_the_field_in_error(people, queries, data, field, message):
    SavedQuery.objects.create(owner=people["ann"], name="Ann's drafts", slug="anns-drafts")
    response = client_for(people["ann"]).post("/events/saved/new/", data)
    assert response.status_code == 200
    body = response.content.decode()
    label = {"name": "Name", "q": "Query", "filters": "Filters", "slug": "Slug"}[field]
    assert re.search(rf'<p class="field-error" role="alert">{label}: [^<]*{re.escape(message)}', body), body


def test_a_slug_is_unique_per_owner_only(people, queries):
    response = client_for(people["ben"]).post("/events/saved/new/", {"name": "Drafts", "slug": "drafts"})
    assert response.status_code == 302
    assert SavedQuery.objects.filter(slug="drafts").count() == 2


def test_running_a_saved_query_applies_it_in_the_viewer(people, queries, db):
    event_ingest([
        {"event_id": "ok", "action": "auth.login", "status": "success"},
        {"event_id": "bad", "action": "auth.login", "status": "failed"},
        {"event_id": "iam", "action": "iam.role.update", "status": "failed"},
    ])
    client = client_for(people["ann"])
    body = client.get("/events/", {"saved": "failed-logins", "owner": "ben"}).content.decode()
    assert re.findall(r'data-event="([^"]+)"', body) == ["bad"]
    assert "Saved query <strong>Failed sign-ins</strong>" in body
    # A parameter in the URL wins over the saved one, and marks the query modified.
    body = client.get("/events/", {"saved": "failed-logins", "owner": "ben", "action": ""}).content.decode()
    assert re.findall(r'data-event="([^"]+)"', body) == ["iam", "bad"]
    assert '<span class="badge">modified</span>' in body


def test_a_private_query_of_someone_else_is_not_found(people, queries):
    client = client_for(people["ann"])
    pk = queries["ben-private"].pk
    assert client.get("/events/", {"saved": "secret"}).status_code == 404
    assert client.get(f"/events/saved/{pk}/edit/").status_code == 404
    assert client.post(f"/events/saved/{pk}/delete/").status_code == 404
    assert SavedQuery.objects.filter(pk=pk).exists()


def test_only_the_owner_edits_or_deletes_a_shared_query(people, queries):
    client = client_for(people["ann"])
    pk = queries["ben-shared"].pk
    assert client.get(f"/events/saved/{pk}/edit/").status_code == 403
    assert client.post(f"/events/saved/{pk}/edit/", {"name": "Mine now"}).status_code == 403
    assert client.post(f"/events/saved/{pk}/delete/").status_code == 403
    assert SavedQuery.objects.get(pk=pk).name == "Failed sign-ins"


def test_the_owner_edits_and_deletes_their_query(people, queries):
    client = client_for(people["ann"])
    saved = queries["ann-private"]
    response = client.post(f"/events/saved/{saved.pk}/edit/", {
        "name": "Ann's drafts", "slug": "drafts", "q": "actor:ann AND last 7d", "filters": "", "shared": "on",
    })
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.shared and saved.querystring == "q=actor%3Aann+AND+last+7d"
    assert client.post(f"/events/saved/{saved.pk}/delete/").status_code == 302
    assert not SavedQuery.objects.filter(pk=saved.pk).exists()


def test_deleting_takes_a_post(people, queries):
    assert client_for(people["ann"]).get(f"/events/saved/{queries['ann-private'].pk}/delete/").status_code == 405


@pytest.mark.audit_trail
def test_saving_a_query_is_recorded_in_the_console_audit_trail(people):
    from apps.events.models import Event

    client_for(people["ann"]).post("/events/saved/new/", {"name": "Shared one", "shared": "on"})
    record = Event.objects.visible_to(people["ann"]).filter(action="audit.saved_query.create").get()
    assert record.actor_id == "ann" and record.changes["after"]["shared"] is True


# --- preferences ---------------------------------------------------------------------------------


def test_preferences_are_reachable_from_the_account_menu(people):
    body = client_for(people["ann"]).get("/events/").content.decode()
    assert 'href="/events/preferences/">Preferences</a>' in body


def test_a_time_zone_must_be_a_known_one(people):
    client = client_for(people["ann"])
    response = client.post("/events/preferences/", {"time_zone": "Mars/Olympus", "columns": ["action"]})
    assert response.status_code == 200
    assert "Time zone: Mars/Olympus is not a time zone name" in response.content.decode()
    assert not UserPreference.objects.filter(user=people["ann"]).exists()


def test_preferences_are_saved(people):
    client = client_for(people["ann"])
    response = client.post("/events/preferences/", {"time_zone": "Europe/Paris", "columns": ["action", "trace_id"]})
    assert response.status_code == 302
    preference = UserPreference.objects.get(user=people["ann"])
    assert (preference.time_zone, preference.columns) == ("Europe/Paris", ["action", "trace_id"])
