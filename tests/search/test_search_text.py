"""Free text reads the stored, lower-cased column search_text (events 0012): it must find exactly
what ILIKE over the joined columns found before, in every script, and stay out of the event itself.
"""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

import pytest
from django.db import connection

from apps.events.chain_verification import chain_verify
from apps.events.models import Event, SearchExpression
from apps.events.query import parse_query
from tests.logbook import ago_from, event, stored_for_module

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=dt_timezone.utc)
ago = ago_from(NOW)

EVENTS = [
    event("accented", "document.export", ago(hours=1), description="Rapport de l'ÉCOLE Müller exporté"),
    event("greek", "document.read", ago(hours=2), description="ΣΥΝΔΕΣΗ από Αθήνα", actor={"name": "Ὀδυσσεύς"}),
    event("german", "user.update", ago(hours=3), description="STRASSE geändert", metadata={"Straße": "HAUPTSTRASSE 5"}),
    event("kelvin", "sensor.read", ago(hours=4), description="temperature 300 \u212a (kelvin sign)"),
    event("dotted-i", "user.login", ago(hours=5), description="\u0130STANBUL office sign-in"),
    event("turkish-lower", "user.login", ago(hours=6), description="istanbul office sign-in"),
    event("percent", "billing.discount", ago(hours=7), description="50% discount applied to INVOICE_7"),
    event("no-percent", "billing.discount", ago(hours=8), description="500 discount applied to INVOICE-7"),
    event("metadata-only", "api.call", ago(hours=9), metadata={"Path": "/V1/Reports", "quote": 'say "Hi"'}),
    event("split", "iam.role.update", ago(hours=10), description="role granted", resource={"type": "role", "id": "admin"},
          actor={"email": "Root@Example.com"}),
    event("script", "comment.create", ago(hours=11), description="<script>alert(1)</script> onerror=x"),
]

WORDS = [
    "école", "ÉCOLE", "MÜLLER", "müller", "σύνδεση", "ΑΘΉΝΑ", "ὀδυσσεύς", "straße", "STRASSE", "hauptstrasse",
    "k (kelvin", "300 k", "istanbul", "İSTANBUL", "50%", "invoice_7", "invoice-7", "INVOICE_",
    "/v1/reports", 'say \\"hi\\"', "root@example.com", "<SCRIPT>", "onerror=", "sign-in",
]

log = stored_for_module(EVENTS)


def _found(word: str) -> set[str]:
    query = '"' + word + '"'  # every word as a phrase: `<script>` and `a=b` are no syntax then
    return set(Event.objects.filter(parse_query(query, now=NOW)).values_list("event_id", flat=True))


def _ilike_over_the_columns(word: str) -> set[str]:
    """What the search found before events 0012: ILIKE over the joined columns, built per row."""
    expression = SearchExpression()
    sql, params = expression.resolve_expression(Event.objects.all().query).as_sql(
        Event.objects.all().query.get_compiler(connection=connection), connection)
    pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT event_id FROM audit_event WHERE {sql} ILIKE %s', [*params, pattern])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("word", WORDS)
def test_free_text_finds_exactly_what_ilike_over_the_columns_found(log, db, word):
    assert _found(word) == _ilike_over_the_columns(word.replace('\\"', '"'))


@pytest.mark.parametrize("word, expected", [
    ("ÉCOLE müller", {"accented"}),
    ("συνδεση ΑΠΌ", {"greek"}),
    ("HAUPTSTRASSE", {"german"}),
    ("50%", {"percent"}),
    ("INVOICE_7", {"percent"}),
    ("/v1/REPORTS", {"metadata-only"}),
    ("<script>", {"script"}),
])
def test_free_text_ignores_case_in_any_script_and_takes_percent_and_underscore_literally(log, db, word, expected):
    assert _found(word) == expected


def test_a_phrase_does_not_run_across_two_columns(log, db):
    assert _found("granted role") == set()
    assert _found("role granted") == {"split"}


def test_the_stored_search_text_is_no_part_of_an_event_nor_of_its_hash(log, db):
    stored = Event.objects.get(event_id="accented")
    assert not hasattr(stored, "search_text")
    assert "search_text" not in {field.column for field in Event._meta.concrete_fields}
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_text FROM audit_event WHERE event_id = 'accented'")
        text = cursor.fetchone()[0]
    assert "rapport de l'école müller exporté" in text and text == text.lower()
    verification = chain_verify()
    assert verification.valid and verification.checked >= len(EVENTS)
