"""Sign-in hardening: lockout after repeated failures for one username from one address."""
from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from apps.events.models import Event
from tests.personas import PASSWORD

# alice (the Regular User persona) is the one whose password is being guessed.
pytestmark = [pytest.mark.django_db, pytest.mark.audit_trail,
              pytest.mark.usefixtures("fast_passwords", "personas_with_passwords")]

ATTACKER = "203.0.113.66"


def attempt(password: str, *, address: str = ATTACKER, username: str = "alice"):
    client = Client(REMOTE_ADDR=address)
    return client, client.post("/accounts/login/", {"username": username, "password": password})


def fail(times: int, **where) -> None:
    for _ in range(times):
        attempt("wrong-password", **where)


def test_five_failures_lock_the_username_from_that_address_even_for_the_right_password(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    fail(5)

    client, response = attempt(PASSWORD)

    assert response.status_code == 429
    assert b"Sign-in temporarily locked" in response.content
    assert b"15 minutes" in response.content
    assert client.get("/events/").status_code == 302


def test_the_lockout_trips_on_the_fifth_failure_and_says_so():
    fail(4)

    _, response = attempt("wrong-password")

    assert response.status_code == 429


def test_fewer_failures_than_the_limit_still_let_the_user_in():
    fail(4)

    _, response = attempt(PASSWORD)

    assert response.status_code == 302


def test_the_same_user_from_another_address_can_still_sign_in():
    fail(5)

    _, response = attempt(PASSWORD, address="192.0.2.10")

    assert response.status_code == 302


def test_another_user_from_the_locked_address_can_still_sign_in():
    fail(5)

    _, response = attempt(PASSWORD, username="sam")

    assert response.status_code == 302


def test_the_lock_lifts_after_the_cool_off():
    fail(5)

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    _, response = attempt(PASSWORD)
    assert response.status_code == 302


def test_a_successful_sign_in_resets_the_count():
    fail(4)
    attempt(PASSWORD)
    fail(4)

    _, response = attempt(PASSWORD)

    assert response.status_code == 302


def test_failures_and_the_lockout_are_recorded_in_the_audit_trail():
    fail(5)
    attempt(PASSWORD)

    recorded = list(Event.objects.filter(category="audit").order_by("seq").values_list("action", "outcome", "actor_id",
                                                                                       "ip_address"))

    assert recorded == [("auth.login.failed", "failure", "alice", ATTACKER)] * 5 + [
        ("auth.lockout", "denied", "alice", ATTACKER),
        ("auth.login.failed", "denied", "alice", ATTACKER),
    ]
    lockout = Event.objects.get(action="auth.lockout")
    assert lockout.severity == "high"
    assert lockout.metadata["failure_limit"] == 5
