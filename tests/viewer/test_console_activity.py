"""The console's own trail apart: the viewer, the live view and the dashboard show what systems sent,
"Console activity" (or a query naming the audit category) shows the console's records, and for
every role the visibility rule still decides which of them."""
from __future__ import annotations

import pytest
from django.utils import timezone

from apps.dashboard.reads import dashboard_get
from apps.events import rollups
from apps.events.models import Event
from apps.rbac.audit_trail import audit_record
from apps.search import live
from apps.search.activity import activity_condition, names_console_records
from apps.search.filters import filter_q
from tests.personas import PERSONAS, VISIBLE, actor_for

pytestmark = [pytest.mark.django_db, pytest.mark.audit_trail]


@pytest.fixture
def trail(log, people):
    """Two console records by alice (regular) and one by sam (analyst), written now."""
    for who, action in (("regular", "audit.events.list"), ("regular", "audit.events.export"),
                        ("analyst", "audit.events.view")):
        audit_record(actor=actor_for(people[who]), action=action, resource_type="event_list")
    return {event.event_id: event for event in Event.objects.filter(category="audit")}


def listed(client, url: str) -> list[Event]:
    response = client.get(url)
    assert response.status_code == 200
    return response.context["page"].events


def console_records_visible(user) -> set[str]:
    return set(Event.objects.visible_to(user).filter(category="audit").values_list("event_id", flat=True))


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "no_role"])
def test_the_viewer_shows_the_events_systems_sent_and_the_toggle_the_consoles_own_within_scope(
        trail, people, browser_for, persona):
    client = browser_for(persona)
    default = listed(client, "/events/")
    assert {event.event_id for event in default} == VISIBLE[persona]
    # Each page is itself written down (audit.events.list): what the persona may see just before.
    allowed = console_records_visible(people[persona])
    console = listed(client, "/events/?activity=console")
    assert all(event.category == "audit" for event in console)
    assert {event.event_id for event in console} == allowed
    # The auditor's window is in January; the console's records belong to no project, so a role
    # limited to p1 sees none of them.
    assert bool(console) == (persona not in ("auditor", "analyst_p1"))
    everything = listed(client, "/events/?activity=all")
    assert {event.event_id for event in everything} >= VISIBLE[persona] | allowed


def test_a_regular_user_sees_their_own_console_records_and_not_an_analysts(trail, people, browser_for):
    console = listed(browser_for("regular"), "/events/?activity=console")
    assert {event.actor_id for event in console} == {"alice"}
    analyst_console = listed(browser_for("analyst"), "/events/?activity=console")
    assert {"alice", "sam"} <= {event.actor_id for event in analyst_console}


def test_the_auditor_sees_no_console_records_outside_their_window(trail, browser_for):
    assert listed(browser_for("auditor"), "/events/?activity=console") == []


@pytest.mark.parametrize("query", ["category:audit", "action:audit.events.*", "event_type:audit.*",
                                   "category:audit AND action:audit.events.export"])
def test_a_query_naming_the_audit_category_finds_the_console_records_without_the_toggle(trail, browser_for, query):
    found = listed(browser_for("analyst"), "/events/?" + f"q={query}")
    assert found and all(event.category == "audit" for event in found)


def test_the_category_filters_audit_box_counts_as_asking_for_them(trail, browser_for):
    found = listed(browser_for("admin"), "/events/?category=audit")
    assert found and all(event.category == "audit" for event in found)


def test_a_query_that_names_other_things_keeps_the_console_out(trail, browser_for):
    found = listed(browser_for("admin"), "/events/?q=action:demo.*")
    assert {event.event_id for event in found} == VISIBLE["admin"]
    assert listed(browser_for("admin"), "/events/?q=NOT category:audit") == listed(browser_for("admin"), "/events/")


def test_names_console_records_reads_the_compiled_condition():
    for text in ("category:audit", "action:audit.*", "event_type:audit", "category:aud*", "action LIKE audit"):
        assert names_console_records(filter_q({"q": text})[0]), text
    for text in ("category:auth", "action:auth.*", "audit", "actor:audit-bot"):
        assert not names_console_records(filter_q({"q": text})[0]), text


def test_the_toggle_is_offered_on_the_viewer_and_kept_by_its_form(trail, browser_for):
    html = browser_for("analyst").get("/events/?activity=console").content.decode()
    assert 'aria-label="Whose activity"' in html
    assert '<input type="hidden" name="activity" value="console">' in html
    assert 'aria-current="page">Console activity</a>' in html


def test_the_live_view_streams_the_systems_events_unless_asked_for_the_console(trail, people):
    user = people["admin"]

    def streamed(params) -> set[str]:
        condition, errors = filter_q(params)
        assert not errors
        _, condition = activity_condition(params, condition)
        query = live.live_query(user=user, condition=condition)
        from django.db import connection
        sql, args = query.latest(10**9, 1000)
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return {row[1] for row in cursor.fetchall()}

    assert streamed({}) == VISIBLE["admin"]
    assert streamed({"activity": "console"}) == set(trail)
    assert streamed({"q": "category:audit"}) == set(trail)


def test_the_live_pages_stream_url_carries_the_choice(trail, browser_for):
    html = browser_for("analyst").get("/events/live/?activity=console").content.decode()
    assert "live/stream/?activity=console" in html


@pytest.mark.parametrize("persona", ["admin", "analyst_p1", "regular", "manager"])
def test_the_dashboard_counts_systems_events_and_the_console_apart_exactly(trail, people, persona):
    # Recent console records (now) and systems' events inside the window, one of them by alice.
    from apps.events.ingest import event_ingest
    now = timezone.now()
    event_ingest([{"event_id": f"recent-{i}", "action": "demo.thing.do", "timestamp": now.isoformat(), "project": "p1",
                   "actor": {"type": "user", "id": "alice" if i % 2 else "bob"}} for i in range(4)])
    rollups.rollups_catch_up()
    user = people[persona]
    board = dashboard_get(user=user, period_key="24h")
    console = dashboard_get(user=user, period_key="24h", console=True)
    visible = Event.objects.visible_to(user).filter(occurred_at__gte=board.start)
    assert board.total == visible.exclude(category="audit").count() > 0
    assert console.total == visible.filter(category="audit").count()
    assert bool(console.total) == (persona != "analyst_p1")  # the console's records have no project
    assert all(not row.value.startswith("audit.") for row in board.actions)
    assert all(row.value.startswith("audit.") for row in console.actions)
    assert sum(row.count for row in board.outcomes) == board.total
    assert sum(row.count for row in console.outcomes) == console.total
    assert all(event.category != "audit" for event in board.recent)
    assert all(event.category == "audit" for event in console.recent)
    assert all("activity=console" in row.url for row in console.actions)


def test_the_dashboard_page_offers_console_activity(trail, browser_for):
    client = browser_for("admin")
    html = client.get("/?activity=console").content.decode()
    assert "Dashboard · console activity" in html
    assert 'href="?range=24h&amp;activity=console" aria-current="page">Console activity' in html
