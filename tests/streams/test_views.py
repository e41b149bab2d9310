"""/streams/: the Audit Administrator's pages. Forms validate naming the field, secrets are
encrypted at rest, every change is recorded in the chained log, other roles are refused."""
from __future__ import annotations

import pytest
from django.db import connection

from apps.events.models import Event
from apps.streams.models import DeadLetter, Destination
from tests.streams.support import deliver_until_idle, make_destination, stream_events

pytestmark = pytest.mark.django_db


def webhook_form(url: str, **extra) -> dict:
    return {"name": "SOC webhook", "cfg_url": url, "cfg_timeout": "5", "secret": "whsec-test", "query": "tags:stream",
            "format": "jsonl", "start": "beginning", "batch_max_events": "100", "batch_max_bytes": "1000000",
            "failing_after": "5", "enabled": "on", **extra}


@pytest.mark.parametrize("persona", ["analyst", "compliance", "regular", "auditor"])
def test_only_a_streams_administrator_reaches_the_pages(people, browser_for, persona):
    client = browser_for(persona)
    assert client.get("/streams/").status_code == 403
    assert client.post("/streams/new/webhook/", webhook_form("http://127.0.0.1:9/")).status_code == 403
    assert not Destination.objects.exists()


def test_an_administrator_creates_a_webhook_destination_with_its_secret_encrypted(people, browser_for, webhook):
    client = browser_for("admin")

    response = client.post("/streams/new/webhook/", webhook_form(webhook.url))

    destination = Destination.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/streams/{destination.pk}/"
    assert destination.config == {"url": webhook.url, "timeout": 5}
    assert destination.secret == "whsec-test" and destination.cursor_seq == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM streams_destination WHERE id = %s", [destination.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "whsec-test" not in stored
    assert b"SOC webhook" in client.get("/streams/").content


@pytest.mark.parametrize(("changes", "field"), [
    ({"cfg_url": "ftp://example.com/x"}, "cfg_url"),
    ({"cfg_url": ""}, "cfg_url"),
    ({"query": "actor:"}, "query"),
    ({"batch_max_events": "5000"}, "batch_max_events"),
    ({"format": "parquet"}, "format"),
    ({"name": ""}, "name"),
])
def test_a_bad_destination_is_refused_naming_the_field_and_nothing_is_stored(people, browser_for, changes, field):
    response = browser_for("admin").post("/streams/new/webhook/", webhook_form("http://127.0.0.1:9/", **changes))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Destination.objects.exists()


def test_splunk_needs_its_token(people, browser_for):
    response = browser_for("admin").post("/streams/new/splunk_hec/", {
        "name": "splunk", "cfg_url": "https://127.0.0.1:8088", "format": "jsonl", "batch_max_events": "100",
        "batch_max_bytes": "100000", "failing_after": "5", "start": "now"})

    assert "secret" in response.context["form"].errors
    assert not Destination.objects.exists()


def test_an_unknown_kind_is_not_found(people, browser_for):
    assert browser_for("admin").get("/streams/new/kafka/").status_code == 404


def test_send_test_delivers_a_made_up_event_and_says_so(people, browser_for, webhook):
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", config={"url": webhook.url})

    response = browser_for("admin").post(f"/streams/{destination.pk}/test/", follow=True)

    assert b"Test event delivered" in response.content
    [event_id] = webhook.received
    assert event_id.startswith("test-")
    assert not Event.objects.visible_to(people["admin"]).filter(event_id=event_id).exists()  # nothing stored


def test_the_preview_shows_the_formatted_events_escaped(people, browser_for, add_events):
    add_events(stream_events(2, description="<script>alert(1)</script>"))
    destination = make_destination(people["admin"], kind="webhook", fmt="cef", config={"url": "http://127.0.0.1:9/"})

    response = browser_for("admin").get(f"/streams/{destination.pk}/preview/")

    assert b"CEF:0|AuditConsole|" in response.content
    assert b"<script>alert" not in response.content and b"&lt;script&gt;" in response.content


def test_the_status_page_shows_lag_and_dead_letters(people, browser_for, webhook, add_events):
    add_events(stream_events(5))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", config={"url": webhook.url},
                                   batch=2)
    webhook.script = ["400"]
    from apps.streams.delivery import destination_deliver

    destination_deliver(destination.pk)

    page = browser_for("admin").get(f"/streams/{destination.pk}/")
    assert page.context["status"].lag_events == 3
    assert page.context["status"].dead_letters == 2
    assert b"s-0000" in page.content


@pytest.mark.audit_trail
def test_pause_resume_replay_and_dead_letter_replay_are_recorded(people, browser_for, webhook, add_events):
    add_events(stream_events(3))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", config={"url": webhook.url})
    webhook.script = ["400"]
    deliver_until_idle(destination)
    client = browser_for("admin")

    client.post(f"/streams/{destination.pk}/pause/", {"paused": "1"})
    destination.refresh_from_db()
    assert destination.paused
    client.post(f"/streams/{destination.pk}/pause/", {"paused": "0"})
    client.post(f"/streams/{destination.pk}/dead-letters/replay/")
    first = Event.objects.visible_to(people["admin"]).get(event_id="s-0001").seq
    client.post(f"/streams/{destination.pk}/replay/", {"from_seq": str(first)})

    destination.refresh_from_db()
    assert not destination.paused and destination.cursor_seq == first - 1
    assert not DeadLetter.objects.filter(replayed_at__isnull=True).exists()
    assert set(webhook.received) == {"s-0000", "s-0001", "s-0002"}
    actions = list(Event.objects.visible_to(people["admin"]).filter(action__startswith="audit.streams.")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["audit.streams.pause", "audit.streams.resume", "audit.streams.dead_letters_replay",
                       "audit.streams.replay"]


def test_a_replay_without_a_seq_or_time_is_refused(people, browser_for, webhook):
    destination = make_destination(people["admin"], kind="webhook", config={"url": webhook.url})
    start = destination.cursor_seq

    response = browser_for("admin").post(f"/streams/{destination.pk}/replay/", {}, follow=True)

    assert b"Give a seq or a time" in response.content
    destination.refresh_from_db()
    assert destination.cursor_seq == start


@pytest.mark.audit_trail
def test_creating_a_destination_is_recorded_without_its_secret(people, browser_for, webhook):
    browser_for("admin").post("/streams/new/webhook/", webhook_form(webhook.url))

    record = Event.objects.visible_to(people["admin"]).get(action="audit.streams.create")
    assert record.changes["after"]["secret_set"] is True
    assert "whsec-test" not in str(record.changes) + str(record.metadata)


def test_a_replay_from_a_time_restarts_at_the_first_event_stored_since(people, browser_for, webhook, add_events):
    from django.utils import timezone

    add_events(stream_events(2))
    since = timezone.now()
    add_events(stream_events(2, start=2))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", config={"url": webhook.url})
    deliver_until_idle(destination)

    browser_for("admin").post(f"/streams/{destination.pk}/replay/",
                              {"from_time": since.strftime("%Y-%m-%d %H:%M:%S.%f")})

    destination.refresh_from_db()
    first_since = Event.objects.visible_to(people["admin"]).get(event_id="s-0002").seq
    assert destination.cursor_seq == first_since - 1


def test_selected_dead_letters_are_replayed_alone(people, browser_for, webhook, add_events):
    add_events(stream_events(3))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", config={"url": webhook.url})
    webhook.script = ["400"]
    deliver_until_idle(destination)
    chosen = DeadLetter.objects.get(event_id="s-0001")
    client = browser_for("admin")

    assert b"Select the dead letters" in client.post(f"/streams/{destination.pk}/dead-letters/replay/",
                                                      {"selected": "1"}, follow=True).content
    client.post(f"/streams/{destination.pk}/dead-letters/replay/", {"selected": "1", "letter": [str(chosen.pk)]})

    assert set(webhook.received) == {"s-0001"}
    assert list(DeadLetter.objects.filter(replayed_at__isnull=True).values_list("event_id", flat=True)) == [
        "s-0000", "s-0002"]
