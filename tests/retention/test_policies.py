"""Retention policies at /retention/: who may read and change them, the rules they must keep
(with messages naming the field), the most specific pattern winning, and the preview."""
from __future__ import annotations

import pytest
from django.db import connection

from apps.retention.models import RetentionPolicy
from apps.retention.policies import policy_for_action, policy_preview


def _form(**values):
    data = {"name": "Auth", "event_types": "authentication.*", "hot_days": "90", "warm_days": "365", "cold_months": "84"}
    data.update(values)
    return data


def test_the_default_policy_comes_from_the_seed_hot_30_warm_90_cold_18_months(db):
    default = RetentionPolicy.objects.get(is_default=True)
    assert (default.hot_days, default.warm_days, default.cold_months) == (30, 90, 18)


def test_the_most_specific_pattern_wins(db):
    broad = RetentionPolicy.objects.create(name="Resources", event_types=["resource.*"], hot_days=10, warm_days=20)
    exact = RetentionPolicy.objects.create(name="Deletes", event_types=["resource.delete"], hot_days=180, warm_days=730)
    deeper = RetentionPolicy.objects.create(name="Views", event_types=["resource.view.*"], hot_days=5, warm_days=5)
    assert policy_for_action("resource.delete") == exact
    assert policy_for_action("resource.create") == broad
    assert policy_for_action("resource.view.list") == deeper
    assert policy_for_action("auth.login").is_default


def test_an_administrator_creates_a_policy_from_the_form(people, browser_for):
    response = browser_for("admin").post("/retention/policies/new/", _form())
    assert response.status_code == 302
    policy = RetentionPolicy.objects.get(name="Auth")
    assert (policy.event_types, policy.hot_days, policy.warm_days, policy.cold_months) == (["authentication.*"], 90, 365, 84)


@pytest.mark.audit_trail
def test_a_policy_change_is_written_into_the_chained_log(people, browser_for):
    browser_for("admin").post("/retention/policies/new/", _form())
    with connection.cursor() as cursor:
        cursor.execute("SELECT actor_id, changes FROM audit_event WHERE action = 'audit.retention.policy_create'")
        actor_id, changes = cursor.fetchone()
    assert actor_id == "ada" and '"hot_days": 90' in changes


@pytest.mark.parametrize("values, field, words", [
    ({"hot_days": "-1"}, "Hot days", "cannot be negative"),
    ({"warm_days": "-5"}, "Warm days", "cannot be negative"),
    ({"hot_days": "90", "warm_days": "30"}, "Warm days", "shorter than hot_days"),
    ({"event_types": "Authentication.*"}, "Event types", "matches no event type"),
    ({"event_types": "auth..login"}, "Event types", "matches no event type"),
    ({"event_types": "*.login"}, "Event types", "matches no event type"),
    ({"cold_months": "1"}, "Cold months", "end before warm does"),
    ({"hot_days": "ten"}, "Hot days", "whole number"),
])
def test_bad_input_is_refused_with_a_message_naming_the_field_and_nothing_is_stored(people, browser_for, values, field, words):
    response = browser_for("admin").post("/retention/policies/new/", _form(**values))
    assert response.status_code == 400
    text = response.content.decode()
    assert f"{field}: " in text and words in text
    assert not RetentionPolicy.objects.filter(name="Auth").exists()


def test_a_pattern_already_in_another_policy_is_refused(people, browser_for):
    RetentionPolicy.objects.create(name="Deletes", event_types=["resource.delete"])
    response = browser_for("admin").post("/retention/policies/new/", _form(event_types="resource.delete"))
    assert response.status_code == 400 and "already in policy Deletes" in response.content.decode()


def test_a_compliance_officer_reads_the_page_but_cannot_change_a_policy(people, browser_for):
    client = browser_for("compliance")
    page = client.get("/retention/")
    assert page.status_code == 200 and "Default" in page.content.decode()
    assert "New policy" not in page.content.decode()
    assert client.post("/retention/policies/new/", _form()).status_code == 403
    assert not RetentionPolicy.objects.filter(name="Auth").exists()


@pytest.mark.parametrize("persona", ["analyst", "manager", "regular", "no_role"])
def test_other_roles_cannot_see_retention(people, browser_for, persona):
    assert browser_for(persona).get("/retention/").status_code == 403


def test_the_preview_counts_per_policy_what_the_next_run_moves_and_deletes(db, aged):
    RetentionPolicy.objects.create(name="Views", event_types=["resource.view"], hot_days=5, warm_days=10, cold_months=0)
    aged(("resource.view", 7), ("resource.view", 12), ("resource.view", 1), ("auth.login", 7), ("auth.login", 45))
    preview = {row["policy"].name: row for row in policy_preview()}
    assert (preview["Views"]["to_warm"], preview["Views"]["to_cold"], preview["Views"]["to_delete"]) == (2, 0, 1)
    assert (preview["Default"]["to_warm"], preview["Default"]["to_delete"]) == (1, 0)
    assert preview["Views"]["to_warm_bytes"] > 0


def test_a_database_without_the_default_policy_gets_it_back_instead_of_an_error(people, browser_for):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM retention_policy")
    page = browser_for("admin").get("/retention/")
    assert page.status_code == 200
    assert RetentionPolicy.objects.get(is_default=True).hot_days == 30
