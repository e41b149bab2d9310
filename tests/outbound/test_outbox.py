"""The outbox against real HTTP receivers on 127.0.0.1 (http.server in a thread)."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.outbound.models import OutboxMessage
from apps.outbound.outbox import outbox_deliver_due, outbox_enqueue, outbox_list, outbox_replay
from apps.outbound.registry import _DELIVERERS, deliverer
from apps.outbound.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature_verify

from tests.receivers import TEST_SECRET as SECRET, Receiver, dead_url, worker_jobs_forget


def _come_due(message):
    """Time passes: the message's next attempt is now."""
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_a_signed_message_is_verified_by_the_receiver(db, test_kind):
    with Receiver() as receiver:
        message = outbox_enqueue(kind=test_kind, target=receiver.url, payload={"alert": "brute force"}, key="k1")
        outbox_deliver_due()
    [request] = receiver.requests
    assert json.loads(request.body) == {"alert": "brute force"}
    assert webhook_signature_verify(SECRET, request.headers[TIMESTAMP_HEADER], request.body,
                                    request.headers[SIGNATURE_HEADER])
    assert not webhook_signature_verify("another secret", request.headers[TIMESTAMP_HEADER], request.body,
                                        request.headers[SIGNATURE_HEADER])
    assert not webhook_signature_verify(SECRET, request.headers[TIMESTAMP_HEADER], request.body + b" ",
                                        request.headers[SIGNATURE_HEADER])
    message.refresh_from_db()
    assert message.state == "delivered" and message.last_status == 200 and message.delivered_at


def test_a_message_is_retried_through_a_failure_and_a_429_until_it_is_delivered(db, test_kind):
    script = [(500, {}), (429, {"Retry-After": "120"}), (200, {})]
    with Receiver(script) as receiver:
        message = outbox_enqueue(kind=test_kind, target=receiver.url, payload={"n": 1})
        outbox_deliver_due()
        message.refresh_from_db()
        assert (message.state, message.attempts, message.last_status) == ("pending", 1, 500)
        assert outbox_deliver_due() == [], "a retry waits for its backoff"

        _come_due(message)
        before = timezone.now()
        outbox_deliver_due()
        message.refresh_from_db()
        assert (message.state, message.last_status) == ("pending", 429)
        assert message.next_attempt_at >= before + timedelta(seconds=120), "Retry-After is honoured"

        _come_due(message)
        outbox_deliver_due()
    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_status) == ("delivered", 3, 200)
    assert [a.status for a in message.attempt_log.all()] == [500, 429, 200]
    assert [a.result for a in message.attempt_log.all()] == ["retry", "retry", "delivered"]
    assert len(receiver.requests) == 3


def test_a_400_fails_at_once_into_the_dead_letters_and_can_be_replayed(db, test_kind):
    with Receiver([(400, {}), (200, {})]) as receiver:
        message = outbox_enqueue(kind=test_kind, target=receiver.url, payload={"n": 2})
        outbox_deliver_due()
        message.refresh_from_db()
        assert (message.state, message.attempts, message.last_status) == ("failed", 1, 400)
        assert "error 400" in message.last_error
        assert list(outbox_list(state="failed")) == [message]

        outbox_replay(message)
        outbox_deliver_due()
    message.refresh_from_db()
    assert message.state == "delivered"
    assert len(receiver.requests) == 2


def test_a_dead_receiver_keeps_the_message_until_its_attempts_run_out(db, test_kind):
    message = outbox_enqueue(kind=test_kind, target=dead_url(), payload={"n": 3}, max_attempts=3)
    for _ in range(3):
        outbox_deliver_due()
        message.refresh_from_db()
        _come_due(message)
    assert message.state == "failed"
    assert message.attempts == 3
    assert "connection error" in message.last_error
    assert [a.result for a in message.attempt_log.all()] == ["retry", "retry", "retry"]


def test_a_receiver_too_slow_to_answer_is_a_retryable_timeout(db, test_kind):
    with Receiver([(200, {}, 3)]) as receiver:
        message = outbox_enqueue(kind=test_kind, target=receiver.url, payload={"n": 4})
        outbox_deliver_due()
    message.refresh_from_db()
    assert message.state == "pending"
    assert message.last_error.startswith("timeout")


def test_a_deliverer_that_raises_does_not_lose_its_message(db):
    @deliverer("tests.broken")
    def broken(message):
        raise RuntimeError("bug in the channel")

    try:
        message = outbox_enqueue(kind="tests.broken", target="x", payload={})
        outbox_deliver_due()
    finally:
        _DELIVERERS.pop("tests.broken")
    message.refresh_from_db()
    assert message.state == "pending"
    assert "RuntimeError: bug in the channel" in message.last_error


def test_a_message_another_worker_holds_is_skipped_not_waited_for(transactional_db, test_kind):
    with Receiver() as receiver:
        message = outbox_enqueue(kind=test_kind, target=receiver.url, payload={"n": 5})
        held, release = threading.Event(), threading.Event()

        def other_worker():
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update().filter(pk=message.pk))
                held.set()
                release.wait(10)
            connection.close()

        thread = threading.Thread(target=other_worker)
        thread.start()
        held.wait(10)
        try:
            assert outbox_deliver_due() == []
        finally:
            release.set()
            thread.join()
        assert [m.pk for m in outbox_deliver_due()] == [message.pk]
    assert len(receiver.requests) == 1


def test_the_worker_delivers_due_messages(transactional_db, test_kind):
    import time

    from procrastinate.contrib.django import app
    from procrastinate.exceptions import AlreadyEnqueued

    from apps.outbound.tasks import outbox_deliver_periodic

    with Receiver() as receiver:
        message = outbox_enqueue(kind=test_kind, target=receiver.url, payload={"n": 6})
        try:
            outbox_deliver_periodic.defer(timestamp=int(time.time()))
        except AlreadyEnqueued:  # a periodic run is queued already: the worker takes that one
            pass
        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(wait=False, queues=["outbound"], install_signal_handlers=False)
        worker_jobs_forget()
    message.refresh_from_db()
    assert message.state == "delivered"
    assert len(receiver.requests) == 1
