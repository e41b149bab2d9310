"""Legal holds from the page, the policies API, and the run's own record in the chained log."""
from __future__ import annotations

import json

import pytest
from django.db import connection

from apps.events.models import Checkpoint
from apps.rbac.tokens import token_issue
from apps.retention.models import LegalHold, RetentionPolicy
from apps.retention.runs import retention_run
from tests.factories import ApiClient


def _audit(action):
    with connection.cursor() as cursor:
        cursor.execute("SELECT actor_id, metadata, changes FROM audit_event WHERE action = %s ORDER BY seq", [action])
        return cursor.fetchall()


@pytest.mark.audit_trail
def test_an_administrator_places_and_releases_a_legal_hold_and_both_are_in_the_chained_log(people, browser_for):
    client = browser_for("admin")
    response = client.post("/retention/holds/new/", {"name": "Case 42", "query": "actor:mallory AND project:p1",
                                                     "reason": "litigation hold", "owner": "legal@example.com"})
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert hold.is_active() and hold.created_by == "ada@example.com"
    client.post(f"/retention/holds/{hold.pk}/release/")
    hold.refresh_from_db()
    assert not hold.is_active()
    assert [row[0] for row in _audit("audit.retention.hold_create")] == ["ada"]
    assert [row[0] for row in _audit("audit.retention.hold_release")] == ["ada"]


@pytest.mark.parametrize("values, field", [
    ({"query": "actor:(("}, "Query"),
    ({"reason": ""}, "Reason"),
    ({"ends_at": "2001-01-01T00:00"}, "Ends at (UTC)"),
])
def test_a_bad_hold_is_refused_naming_the_field(people, browser_for, values, field):
    data = {"name": "Case 42", "query": "actor:mallory", "reason": "litigation", "owner": "legal", **values}
    response = browser_for("admin").post("/retention/holds/new/", data)
    assert response.status_code == 400 and f"{field}: " in response.content.decode()
    assert not LegalHold.objects.exists()


def test_a_compliance_officer_cannot_place_a_hold(people, browser_for):
    response = browser_for("compliance").post("/retention/holds/new/", {"name": "x", "query": "actor:a",
                                                                         "reason": "r", "owner": "o"})
    assert response.status_code == 403 and not LegalHold.objects.exists()


def test_the_api_creates_a_policy_in_seed_001s_terms_and_refuses_bad_input_naming_the_field(people):
    api = ApiClient(token_issue(scope="read", user=people["admin"]).secret)
    created = api.post("/api/v1/retention/policies", {"name": "Auth", "event_types": ["authentication.*"],
                                                      "hot_days": 90, "warm_days": 365, "cold_years": 7})
    assert created.status_code == 201 and created.json()["cold_months"] == 84
    bad = api.post("/api/v1/retention/policies", {"name": "Views", "event_types": ["resource.view"],
                                                  "hot_days": 30, "warm_days": -1, "cold_months": 0})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "warm_days"
    assert not RetentionPolicy.objects.filter(name="Views").exists()
    not_json = api.post("/api/v1/retention/policies", raw="{", content_type="application/json")
    assert not_json.status_code == 400


@pytest.mark.parametrize("persona, status", [("compliance", 200), ("analyst", 403), ("regular", 403)])
def test_who_may_read_policies_through_the_api(people, persona, status):
    api = ApiClient(token_issue(scope="read", user=people[persona]).secret)
    assert api.get("/api/v1/retention/policies").status_code == status


def test_a_compliance_token_cannot_change_a_policy(people):
    api = ApiClient(token_issue(scope="read", user=people["compliance"]).secret)
    response = api.post("/api/v1/retention/policies", {"name": "Auth", "event_types": ["auth.*"], "hot_days": 1,
                                                       "warm_days": 2, "cold_months": 0})
    assert response.status_code == 403 and not RetentionPolicy.objects.filter(name="Auth").exists()


@pytest.mark.audit_trail
def test_each_run_writes_a_signed_checkpoint_and_an_audit_event_saying_what_moved(db, aged):
    aged(("demo.thing.do", 40), ("demo.thing.do", 41))
    run = retention_run()
    assert run.checkpoint_seq is not None
    checkpoint = Checkpoint.objects.get(seq=run.checkpoint_seq)
    assert checkpoint.reason == Checkpoint.Reason.RETENTION
    ((actor, metadata, _),) = _audit("audit.retention.run")
    summary = json.loads(metadata)
    assert [item["count"] for item in summary["to_warm"]] == [2] and summary["deleted"] == []


def test_the_policy_preview_and_the_status_page_show_what_each_hold_keeps_from_deletion(people, aged, browser_for,
                                                                                         settings):
    from apps.rbac.audit_trail import Actor
    from apps.retention.holds import hold_create, held_counts

    settings.RETENTION_BATCH = 2
    aged(("demo.thing.do", 10), ("demo.thing.do", 10), actor="mallory")
    aged(("demo.thing.do", 10), ("demo.thing.do", 10), ("demo.thing.do", 10), actor="bob")
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=5, cold_months=0)
    admin = Actor.system("test")
    narrow = hold_create(actor=admin, name="Mallory", query="actor:mallory", reason="case 1", owner="legal")
    wide = hold_create(actor=admin, name="Both", query="actor:mallory OR actor:bob", reason="case 2", owner="legal")
    assert held_counts().per_hold == {}  # nothing archived yet: the holds keep nothing from deletion
    retention_run()

    counts = held_counts()
    assert counts.per_hold == {narrow.pk: 2, wide.pk: 5}
    assert counts.segments_per_hold == {narrow.pk: 1, wide.pk: 3}
    default = RetentionPolicy.objects.get(is_default=True)
    assert counts.per_policy == {default.pk: 5}  # an event both holds match counts once

    page = browser_for("compliance").get("/retention/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "2 events <span class=\"muted\">in 1 segment</span>" in text
    assert "5 events <span class=\"muted\">in 3 segments</span>" in text
    assert page.context["preview"][0]["held"] == 5
