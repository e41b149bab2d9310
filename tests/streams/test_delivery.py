"""Delivery against real local receivers: at least once, in seq order, from a cursor that moves
only on a real acknowledgement; retries with backoff; dead letters; failing destinations."""
from __future__ import annotations

import pytest

from apps.events.models import Event
from apps.streams.models import DeadLetter, DeliveryBatch
from tests.streams.support import deliver_until_idle, make_destination, stream_events

pytestmark = pytest.mark.django_db


def test_a_flaky_receiver_gets_every_event_once_in_order_and_duplicates_only_as_retries(
        people, webhook, add_events):
    add_events(stream_events(60))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", batch=10,
                                   config={"url": webhook.url, "timeout": 1})
    # Fails, answers 429, times out (after storing the batch), and restarts during delivery.
    webhook.script = ["ok", "500", "ok", "429", "timeout", "ok", "500", "ok"]

    def restart_midway(round_no):
        if round_no == 6:
            webhook.stop()
        if round_no == 8:
            webhook.start()

    results = deliver_until_idle(destination, between=restart_midway)

    ids = {f"s-{i:04d}" for i in range(60)}
    assert set(webhook.received) == ids  # every event, none lost
    assert webhook.first_seen == sorted(webhook.first_seen)  # in seq order
    duplicated = {event_id for event_id, count in webhook.received.items() if count > 1}
    assert len(duplicated) == 10  # exactly the batch whose answer timed out, sent again
    assert webhook.bad_signatures == 0
    assert "retry" in results
    last = Event.objects.visible_to(people["admin"]).filter(event_id="s-0059").get().seq
    assert destination.cursor_seq == last
    assert destination.consecutive_failures == 0 and not destination.failing


def test_the_cursor_does_not_move_without_an_acknowledgement(people, webhook, add_events):
    add_events(stream_events(5))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test",
                                   config={"url": webhook.url, "timeout": 1})
    start = destination.cursor_seq
    webhook.script = ["500"]

    from apps.streams.delivery import destination_deliver

    assert destination_deliver(destination.pk) == "retry"

    destination.refresh_from_db()
    assert destination.cursor_seq == start
    assert destination.next_attempt_at is not None
    assert "HTTP 500" in destination.last_error
    assert destination.next_attempt_at > destination.last_error_at  # backing off before the next try


def test_a_refused_batch_goes_to_the_dead_letters_and_the_stream_moves_on(people, webhook, add_events):
    add_events(stream_events(4))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", batch=2,
                                   config={"url": webhook.url})
    webhook.script = ["400"]

    deliver_until_idle(destination)

    letters = list(DeadLetter.objects.filter(destination=destination).values_list("event_id", "status_code"))
    assert letters == [("s-0000", 400), ("s-0001", 400)]
    assert set(webhook.received) == {"s-0002", "s-0003"}


def test_dead_letters_are_replayed_and_closed_when_acknowledged(people, webhook, add_events, rf):
    from apps.streams.configure import dead_letters_replay

    add_events(stream_events(3))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test",
                                   config={"url": webhook.url})
    webhook.script = ["400"]
    deliver_until_idle(destination)
    assert DeadLetter.objects.filter(replayed_at__isnull=True).count() == 3
    request = rf.post("/")
    request.user = people["admin"]

    outcome = dead_letters_replay(request=request, destination=destination)

    assert outcome.state == "delivered"
    assert DeadLetter.objects.filter(replayed_at__isnull=True).count() == 0
    assert set(webhook.received) == {"s-0000", "s-0001", "s-0002"}


@pytest.mark.audit_trail
def test_after_n_consecutive_failures_the_destination_is_failing_and_the_log_says_so(people, webhook, add_events):
    add_events(stream_events(2))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", failing_after=3,
                                   config={"url": webhook.url}, query="tags:stream")
    webhook.script = ["500"] * 5
    from datetime import timedelta

    from django.utils import timezone

    from apps.streams.delivery import destination_deliver

    for _ in range(3):
        destination_deliver(destination.pk, now=timezone.now() + timedelta(days=1))

    destination.refresh_from_db()
    assert destination.failing and destination.status == "failing"
    record = Event.objects.visible_to(people["admin"]).get(action="audit.streams.failing")
    assert record.severity == "high" and record.resource_name == destination.name


def test_a_paused_destination_sends_nothing_until_resumed(people, webhook, add_events):
    add_events(stream_events(3))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test",
                                   config={"url": webhook.url}, paused=True)

    assert deliver_until_idle(destination, rounds=2) == ["waiting", "waiting"]
    assert webhook.requests == 0

    destination.paused = False
    destination.save()
    deliver_until_idle(destination)
    assert len(webhook.received) == 3


def test_the_stream_sends_only_what_its_owner_may_see_and_its_filter_matches(people, webhook, add_events, log):
    add_events(stream_events(2) + stream_events(2, prefix="other", tags=["nope"]))
    destination = make_destination(people["analyst_p1"], kind="webhook", secret="whsec-test",
                                   config={"url": webhook.url}, query="")

    deliver_until_idle(destination)

    # analyst_p1 sees project p1 only: the personas' p1 events, none of acme's.
    assert set(webhook.received) == {"alice-p1", "bob-p1", "system-p1"}


def test_batches_respect_the_byte_limit(people, webhook, add_events):
    add_events(stream_events(6))
    destination = make_destination(people["admin"], kind="webhook", secret="whsec-test", batch=100,
                                   config={"url": webhook.url}, batch_max_bytes=2500)

    deliver_until_idle(destination)

    sizes = list(DeliveryBatch.objects.filter(destination=destination).order_by("id").values_list("events", flat=True))
    assert len(sizes) > 1 and sum(sizes) == 6


# --- Elasticsearch _bulk ------------------------------------------------------------------------


def test_elastic_bulk_creates_by_event_id_retries_429_items_and_dead_letters_mapping_errors(
        people, elastic, add_events):
    add_events(stream_events(8) + stream_events(1, prefix="bad", start=8, action="bad.mapping"))
    destination = make_destination(people["admin"], kind="elasticsearch", config={"url": elastic.url, "index": "audit"},
                                   batch=20)
    elastic.throttle_once = {"s-0003"}

    results = deliver_until_idle(destination)

    assert set(elastic.docs) == {f"s-{i:04d}" for i in range(8)}
    assert results[0] == "partial"  # s-0000..s-0002 acknowledged, s-0003 on: sent again
    letters = list(DeadLetter.objects.filter(destination=destination))
    assert [letter.event_id for letter in letters] == ["bad-0008"]
    assert "mapper_parsing_exception" in letters[0].response
    assert destination.cursor_seq == Event.objects.visible_to(people["admin"]).get(event_id="bad-0008").seq


def test_elastic_answers_a_resent_event_409_which_counts_as_delivered(people, elastic, add_events):
    add_events(stream_events(3))
    destination = make_destination(people["admin"], kind="elasticsearch", config={"url": elastic.url})
    deliver_until_idle(destination)
    destination.cursor_seq = 0
    destination.save()

    deliver_until_idle(destination)

    assert len(elastic.docs) == 3
    assert not DeadLetter.objects.exists()


# --- Splunk HEC ---------------------------------------------------------------------------------


def test_hec_counts_a_batch_only_once_the_indexer_acknowledges_it(people, hec, add_events):
    add_events(stream_events(5))
    destination = make_destination(people["admin"], kind="splunk_hec", secret="hec-token-1",
                                   config={"url": hec.url, "use_ack": True, "ack_timeout": 5, "index": "audit"})
    hec.busy_first = True  # code 9, 503: retried

    results = deliver_until_idle(destination)

    assert results[:2] == ["retry", "delivered"]
    assert [e["event"]["event_id"] for e in hec.indexed] == [f"s-{i:04d}" for i in range(5)]
    assert hec.indexed[0]["index"] == "audit"
    assert hec.polls[1] >= 2


def test_hec_without_a_confirmed_ack_keeps_the_cursor(people, hec, add_events):
    add_events(stream_events(2))
    destination = make_destination(people["admin"], kind="splunk_hec", secret="hec-token-1",
                                   config={"url": hec.url, "use_ack": True, "ack_timeout": 1})
    hec.never_confirm = True
    start = destination.cursor_seq

    from apps.streams.delivery import destination_deliver

    assert destination_deliver(destination.pk) == "retry"
    destination.refresh_from_db()
    assert destination.cursor_seq == start
    assert "not confirmed" in destination.last_error


def test_hec_with_a_bad_token_dead_letters_the_batch(people, hec, add_events):
    add_events(stream_events(2))
    destination = make_destination(people["admin"], kind="splunk_hec", secret="wrong",
                                   config={"url": hec.url, "use_ack": True})

    deliver_until_idle(destination)

    assert DeadLetter.objects.filter(destination=destination, status_code=403).count() == 2
