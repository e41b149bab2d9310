"""The console's own records cannot be forged: the `audit` category and `audit.*` actions are
reserved to apps.rbac.audit_trail, refused from ingest (and every path through the schema), and
shown apart from client events in the viewer."""
from __future__ import annotations

import pytest

from apps.events.models import Event
from apps.events.schema import FieldError, normalize_event
from apps.rbac.audit_trail import Actor, audit_record

EVENTS = "/api/v1/events"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("event, field", [
    ({"action": "audit.api.export", "actor": {"id": "cora"}}, "action"),
    ({"action": "AUDIT.events.list"}, "action"),
    ({"action": "audit"}, "action"),
    ({"event_type": "audit.roles.assign"}, "action"),
    ({"action": "x.y", "category": "audit"}, "category"),
    ({"action": "x.y", "category": " Audit "}, "category"),
    ({"specversion": "1.0", "id": "ce1", "source": "/x", "type": "audit.api.view", "data": {}}, "action"),
])
def test_ingest_refuses_the_consoles_reserved_category_and_actions_naming_the_field(ingest_api, event, field):
    response = ingest_api.post(EVENTS, {"events": [{"action": "ok.fine"}, event]})

    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, field)]
    assert "reserved" in errors[0]["message"]
    assert Event.objects.count() == 0


def test_actions_that_only_begin_with_the_letters_audit_are_still_accepted(ingest):
    ingest({"event_id": "a1", "action": "auditing.report.create"}, {"event_id": "a2", "action": "audits.run"})

    assert set(Event.objects.values_list("category", flat=True)) == {"auditing", "audits"}


def test_the_schema_refuses_the_reserved_category_to_every_caller_but_the_console():
    with pytest.raises(FieldError) as refused:
        normalize_event({"action": "audit.rules.update", "actor_id": "mallory"})
    assert refused.value.field == "action"

    assert normalize_event({"action": "audit.rules.update"}, console=True)["category"] == "audit"


@pytest.mark.audit_trail
def test_the_consoles_own_trail_is_still_written(settings):
    audit_record(action="audit.rules.update", actor=Actor.system("tests"), resource_type="rule", resource_id="r1")

    record = Event.objects.get()
    assert (record.category, record.action, record.actor_type) == ("audit", "audit.rules.update", "system")


@pytest.mark.audit_trail
def test_the_viewer_marks_the_consoles_own_records_apart_from_client_events(browser_for, ingest):
    ingest({"event_id": "client-1", "action": "iam.role.update", "category": "security"})
    audit_record(action="audit.rules.update", actor=Actor.system("tests"), resource_type="rule", resource_id="r1")
    console_id = Event.objects.get(action="audit.rules.update").event_id
    admin = browser_for("admin")

    console_page = admin.get(f"/events/{console_id}/").content.decode()
    client_page = admin.get("/events/client-1/").content.decode()

    assert "Console record" in console_page
    assert "Console record" not in client_page
