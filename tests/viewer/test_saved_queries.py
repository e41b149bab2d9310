"""Saved queries (/events/saved/) and the viewer's preferences (/events/preferences/).

Two people keep saved queries: sam, the Security Analyst persona, and cora, the Compliance
Officer persona (both may use saved queries and see every event)."""
from __future__ import annotations

import re

import pytest

from apps.events.ingest import event_ingest
from apps.rbac.models import UserPreference
from apps.viewer.models import SavedQuery


@pytest.fixture
def queries(people):
    sam, cora = people["analyst"], people["compliance"]
    return {
        "sam-private": SavedQuery.objects.create(owner=sam, name="Sam's drafts", slug="drafts", querystring="q=actor%3Asam"),
        "sam-shared": SavedQuery.objects.create(owner=sam, name="Weekend admin actions", slug="weekend-admin",
                                                querystring="action=iam.%2A&range=7d", shared=True),
        "cora-private": SavedQuery.objects.create(owner=cora, name="Cora's secret", slug="secret",
                                                  querystring="outcome=failure"),
        "cora-shared": SavedQuery.objects.create(owner=cora, name="Failed sign-ins", slug="failed-logins",
                                                 querystring="action=auth.login&outcome=failure", shared=True),
    }


def test_the_list_shows_mine_and_those_shared_by_others_with_owner_and_sharing(people, browser_for, queries):
    body = browser_for("analyst").get("/events/saved/").content.decode()
    mine, shared = body.split("Shared by others")
    assert "Sam&#x27;s drafts" in mine and "Weekend admin actions" in mine
    assert "Failed sign-ins" in shared and "cora" in shared
    assert "Cora&#x27;s secret" not in body
    assert '<span class="badge">private</span>' in mine and '<span class="badge badge-shared">shared</span>' in shared
    # Someone else's shared query can be run, not edited or deleted.
    assert f"/events/saved/{queries['cora-shared'].pk}/edit/" not in body
    assert "/events/?saved=failed-logins&amp;owner=cora" in body


def test_saving_the_current_search_keeps_its_querystring(people, browser_for):
    client = browser_for("analyst")
    form = client.get("/events/saved/new/", {"q": "outcome:failure", "range": "24h", "cursor": "x", "actor": ""})
    body = form.content.decode()
    assert 'value="outcome:failure"' in body and 'value="range=24h"' in body
    response = client.post("/events/saved/new/", {"name": "Failures today", "q": "outcome:failure",
                                                   "filters": "range=24h", "description": "For the morning check"})
    assert response.status_code == 302
    saved = SavedQuery.objects.get(owner=people["analyst"])
    assert (saved.slug, saved.querystring, saved.shared) == ("failures-today", "q=outcome%3Afailure&range=24h", False)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": ""}, "name", "This field is required"),
    ({"name": "X", "q": "outcome:failure AND ("}, "q", "at column 21"),
    ({"name": "X", "filters": "outcome=sideways"}, "filters", "outcome: &#x27;sideways&#x27; is not a valid outcome"),
    ({"name": "X", "filters": "colour=red"}, "filters", "Unknown parameter: colour"),
    ({"name": "Sam's drafts"}, "name", "You already have a saved query with the link name “sams-drafts”"),
    ({"name": "Other", "slug": "drafts"}, "slug", "You already have a saved query with the link name “drafts”"),
])
def test_the_form_names_the_field_in_error(people, browser_for, queries, data, field, message):
    SavedQuery.objects.create(owner=people["analyst"], name="Sam's drafts", slug="sams-drafts")
    response = browser_for("analyst").post("/events/saved/new/", data)
    assert response.status_code == 200
    body = response.content.decode()
    label = {"name": "Name", "q": "Query", "filters": "Filters", "slug": "Slug"}[field]
    assert re.search(rf'<p class="field-error" role="alert">{label}: [^<]*{re.escape(message)}', body), body


def test_a_slug_is_unique_per_owner_only(people, browser_for, queries):
    response = browser_for("compliance").post("/events/saved/new/", {"name": "Drafts", "slug": "drafts"})
    assert response.status_code == 302
    assert SavedQuery.objects.filter(slug="drafts").count() == 2


def test_running_a_saved_query_applies_it_in_the_viewer(people, browser_for, queries, db):
    event_ingest([
        {"event_id": "ok", "action": "auth.login", "status": "success"},
        {"event_id": "bad", "action": "auth.login", "status": "failed"},
        {"event_id": "iam", "action": "iam.role.update", "status": "failed"},
    ])
    client = browser_for("analyst")
    body = client.get("/events/", {"saved": "failed-logins", "owner": "cora"}).content.decode()
    assert re.findall(r'data-event="([^"]+)"', body) == ["bad"]
    assert "Saved query <strong>Failed sign-ins</strong>" in body
    # A parameter in the URL wins over the saved one, and marks the query modified.
    body = client.get("/events/", {"saved": "failed-logins", "owner": "cora", "action": ""}).content.decode()
    assert re.findall(r'data-event="([^"]+)"', body) == ["iam", "bad"]
    assert '<span class="badge">modified</span>' in body


def test_a_private_query_of_someone_else_is_not_found(people, browser_for, queries):
    client = browser_for("analyst")
    pk = queries["cora-private"].pk
    assert client.get("/events/", {"saved": "secret"}).status_code == 404
    assert client.get(f"/events/saved/{pk}/edit/").status_code == 404
    assert client.post(f"/events/saved/{pk}/delete/").status_code == 404
    assert SavedQuery.objects.filter(pk=pk).exists()


def test_only_the_owner_edits_or_deletes_a_shared_query(people, browser_for, queries):
    client = browser_for("analyst")
    pk = queries["cora-shared"].pk
    assert client.get(f"/events/saved/{pk}/edit/").status_code == 403
    assert client.post(f"/events/saved/{pk}/edit/", {"name": "Mine now"}).status_code == 403
    assert client.post(f"/events/saved/{pk}/delete/").status_code == 403
    assert SavedQuery.objects.get(pk=pk).name == "Failed sign-ins"


def test_the_owner_edits_and_deletes_their_query(people, browser_for, queries):
    client = browser_for("analyst")
    saved = queries["sam-private"]
    response = client.post(f"/events/saved/{saved.pk}/edit/", {
        "name": "Sam's drafts", "slug": "drafts", "q": "actor:sam AND last 7d", "filters": "", "shared": "on",
    })
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.shared and saved.querystring == "q=actor%3Asam+AND+last+7d"
    assert client.post(f"/events/saved/{saved.pk}/delete/").status_code == 302
    assert not SavedQuery.objects.filter(pk=saved.pk).exists()


def test_deleting_takes_a_post(people, browser_for, queries):
    assert browser_for("analyst").get(f"/events/saved/{queries['sam-private'].pk}/delete/").status_code == 405


@pytest.mark.audit_trail
def test_saving_a_query_is_recorded_in_the_console_audit_trail(people, browser_for):
    from apps.events.models import Event

    browser_for("analyst").post("/events/saved/new/", {"name": "Shared one", "shared": "on"})
    record = Event.objects.visible_to(people["analyst"]).filter(action="audit.saved_query.create").get()
    assert record.actor_id == "sam" and record.changes["after"]["shared"] is True


# --- preferences ---------------------------------------------------------------------------------


def test_preferences_are_reachable_from_the_account_menu(people, browser_for):
    body = browser_for("analyst").get("/events/").content.decode()
    assert 'href="/events/preferences/">Preferences</a>' in body


def test_a_time_zone_must_be_a_known_one(people, browser_for):
    client = browser_for("analyst")
    response = client.post("/events/preferences/", {"time_zone": "Mars/Olympus", "columns": ["action"]})
    assert response.status_code == 200
    assert "Time zone: Mars/Olympus is not a time zone name" in response.content.decode()
    assert not UserPreference.objects.filter(user=people["analyst"]).exists()


def test_preferences_are_saved(people, browser_for):
    client = browser_for("analyst")
    response = client.post("/events/preferences/", {"time_zone": "Europe/Paris", "columns": ["action", "trace_id"]})
    assert response.status_code == 302
    preference = UserPreference.objects.get(user=people["analyst"])
    assert (preference.time_zone, preference.columns) == ("Europe/Paris", ["action", "trace_id"])
