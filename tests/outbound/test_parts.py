"""Secrets at rest, backoff, and the classification of answers."""
from __future__ import annotations

import random

import pytest

from apps.outbound.backoff import backoff_delay
from apps.outbound.crypto import SecretError, secret_decrypt, secret_encrypt
from apps.outbound.http import result_from_status, retry_after_parse
from apps.outbound.models import OutboxMessage  # noqa: F401  (the app is installed)


def test_a_secret_is_stored_encrypted_and_read_back(settings):
    stored = secret_encrypt("https://hooks.slack.com/services/T000/B000/XXXX")
    assert "hooks.slack.com" not in stored
    assert secret_decrypt(stored) == "https://hooks.slack.com/services/T000/B000/XXXX"
    assert secret_encrypt("") == ""


def test_a_rotated_secret_key_still_reads_old_secrets_through_the_fallbacks(settings):
    stored = secret_encrypt("old secret")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-key-" + "y" * 40
    with pytest.raises(SecretError):
        secret_decrypt(stored)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert secret_decrypt(stored) == "old secret"


def test_answers_are_classified_as_delivered_retryable_or_failed():
    assert result_from_status(204).state == "delivered"
    assert result_from_status(503).state == "retry"
    assert result_from_status(408).state == "retry"
    assert result_from_status(429, retry_after="30").retry_after == 30
    assert result_from_status(404).state == "failed"
    assert result_from_status(301).state == "failed"


def test_retry_after_takes_seconds_or_an_http_date():
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_parse("Thu, 01 Jan 2026 12:01:00 GMT", now=now) == 60
    assert retry_after_parse("soon") is None
    assert retry_after_parse(None) is None


def test_backoff_grows_exponentially_with_full_jitter_and_honours_retry_after():
    rng = random.Random(7)
    delays = [backoff_delay(attempt, rng=rng, base=5, cap=3600) for attempt in (1, 2, 3, 10) for _ in range(200)]
    first, tenth = delays[:200], delays[600:]
    assert all(0 <= d <= 5 for d in first)
    assert all(0 <= d <= 2560 for d in tenth) and max(tenth) > 5
    assert len({round(d, 3) for d in first}) > 100, "jittered, not a fixed delay"
    assert all(backoff_delay(1, retry_after=90, rng=rng) >= 90 for _ in range(50))
    assert backoff_delay(1, retry_after=10 ** 9, rng=rng) == 86400
