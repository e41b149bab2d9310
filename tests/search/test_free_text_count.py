"""The capped count of free text reads the events table from its first page (SET LOCAL
synchronize_seqscans = off, apps.search.reads._count_and_first_keys), so that the same search
reads the same pages, which stay cached, rather than a new slice of the table each time.

Not in test_search_text.py: that module's log is held in a transaction for the whole module,
and what matters here is what happens outside one, as in a served request.
"""
from __future__ import annotations

import pytest
from django.db import connection

from apps.search import reads
from apps.events.ingest import event_ingest
from apps.events.query import parse_query
from tests.logbook import event


@pytest.mark.django_db(transaction=True)
def test_a_free_text_search_leaves_the_connection_settings_as_they_were_for_the_next_request(people):
    # The capped count of free text reads the table from its first page (SET LOCAL
    # synchronize_seqscans): the setting must end with its transaction, not follow the pooled
    # connection into whatever request is served on it next.
    event_ingest([event("signed-in", "user.login", "2026-03-10T11:00:00Z", description="Signed in with SSO"),
                  event("other", "user.logout", "2026-03-10T11:05:00Z", description="Signed out")])
    page = reads.event_page(principal=people["admin"], filters=parse_query('"signed in with"'))
    assert [found.event_id for found in page.events] == ["signed-in"]
    assert connection.get_autocommit()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronize_seqscans")
        assert cursor.fetchone()[0] == "on"
