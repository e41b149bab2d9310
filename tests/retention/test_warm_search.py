"""Warm search through DuckDB answers what PostgreSQL answers: for each role and each kind of
query, the DuckDB path pages the same archived events, in the same order, with the same total,
as the exact path (segments loaded into PostgreSQL); conditions it cannot translate take the
exact path; and an archived row PostgreSQL does not confirm is never shown."""
from __future__ import annotations

import pytest
from django.http import QueryDict
from django.utils import timezone

from apps.retention import warm_search
from apps.retention.archive_search import _archive_page_fast, archive_page, archive_page_exact, time_bounds
from apps.retention.models import RetentionPolicy
from apps.retention.runs import retention_run
from apps.retention.warm_sql import Untranslatable
from apps.search.params import search_from_params
from tests.personas import VISIBLE


def _event(index, action, actor, project, *, days=40, **extra):
    return {"event_id": f"warm-{index}", "action": action, "project": project, "actor": actor,
            "timestamp": (timezone.now() - timezone.timedelta(days=days, minutes=index)).isoformat(), **extra}


@pytest.fixture
def archived(people, log, ingest, settings):
    """The personas' log and a varied set of events, all archived to warm segments of 4 events."""
    settings.RETENTION_BATCH = 4
    ingest(
        _event(1, "authentication.login", {"type": "user", "id": "alice", "email": "alice@example.com"}, "p1",
               status="failed", severity="high", metadata={"ipAddress": "203.0.113.42", "region": "eu-west-1",
                                                           "size": 7}, tags=["auth", "billing"]),
        _event(2, "authentication.logout", {"type": "user", "id": "bob", "email": "bob@example.com"}, "p1",
               severity="low", metadata={"region": "us-east-1", "size": 3}),
        _event(3, "vps.delete", {"type": "user", "id": "usr_9", "email": "ALICE@example.com"}, "p2",
               description="deleted the server vm_01HZ8K2M3N4P", resource={"type": "vps", "id": "vm_01HZ8K2M3N4P"},
               metadata={"ipAddress": "10.1.2.3"}, tags=["infra"]),
        _event(4, "iam.role.update", {"type": "user", "id": "carol", "email": "carol@example.com"}, "p2",
               severity="critical", status_code=403, metadata={"note": "Straße ümlaut"}),
        _event(5, "storage.read", {"type": "user", "id": "max"}, "p2", status_code=200, days=35),
        _event(6, "auth.login", {"type": "user", "id": "bob", "email": "bob@example.com"}, "p1", days=39,
               metadata={"nested": {"deep": "value"}}, tags=["auth"]),
    )
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    run = retention_run()
    assert run.state == "done" and run.archived_events >= 12


# Translated for DuckDB: the fast path answers.
FAST = [
    "", "project:p1", "actor:alice", "actor.email:ALICE@example.com", "action:authentication.login",
    "action:auth*", "severity:>=high", "status_code:4xx", "status_code:200", "tags:auth", "tags:\"\"",
    "metadata.region:eu*", "metadata.region:us-east-1", "metadata.size:7", "metadata.ipAddress:*",
    "metadata.nested.deep:value",
    "signed", "vm_01HZ8K2M3N4P", "\"deleted the\"", "*server*", "NOT outcome:failure", "ip:203.0.113.42",
    "timestamp:>now-38d", "last 90d", "project:p1 OR severity:critical", "NOT project:p2 AND NOT tags:auth",
    "description:deleted", "straße",
]
# Not translated (CIDR ranges and JSON ordering): the exact path answers.
EXACT = ["ip:10.0.0.0/8", "metadata.size:>5", "ip:10.1.*"]


def _search(query: str):
    params = QueryDict(mutable=True)
    if query:
        params["q"] = query
    return search_from_params(params, now=timezone.now()), time_bounds(params)


def _page_keys(page):
    return [(event.seq, event.archived) for event in page.events], page.total


def _same_pages(principal, queries, variants):
    for query in queries:
        search, (start, end) = _search(query)
        for order, offset in variants:
            arguments = dict(principal=principal, condition=search.condition, limit=3, offset=offset, order=order,
                             start=start, end=end)
            fast = _archive_page_fast(**arguments)
            assert fast is not None, query
            assert _page_keys(fast) == _page_keys(archive_page_exact(**arguments)), (query, order, offset)


def test_the_duckdb_path_pages_what_the_exact_path_pages_for_each_kind_of_query(people, archived):
    _same_pages(people["admin"], FAST, [("newest", 0)])


# The visibility rule's parts: projects, actors by id and by email, windows, teams.
ROLE_QUERIES = ["", "project:p1", "NOT project:p2 OR actor:alice", "signed", "timestamp:>now-38d"]


@pytest.mark.parametrize("persona", ["admin", "analyst_p1", "manager", "regular", "auditor", "no_role"])
def test_the_duckdb_path_pages_what_the_exact_path_pages_for_each_role(people, archived, persona):
    _same_pages(people[persona], ROLE_QUERIES, [("newest", 0), ("oldest", 0), ("newest", 2)])
    everything, (start, end) = _search("")
    page = archive_page(principal=people[persona], condition=everything.condition, limit=100, start=start, end=end)
    assert {event.event_id for event in page.events} >= VISIBLE[persona]


@pytest.mark.parametrize("query", EXACT)
def test_conditions_duckdb_is_not_given_take_the_exact_path_with_the_same_answer(people, archived, query):
    search, (start, end) = _search(query)
    arguments = dict(principal=people["analyst"], condition=search.condition, limit=10, start=start, end=end)
    with pytest.raises(Untranslatable):
        _archive_page_fast(**arguments, offset=0, order="newest")
    page = archive_page(**arguments)
    assert _page_keys(page) == _page_keys(archive_page_exact(**arguments)) and page.total >= 1


def test_an_archived_row_postgresql_does_not_confirm_is_never_shown(people, archived, monkeypatch):
    # DuckDB made to find every archived row, whatever the condition and the role.
    monkeypatch.setattr(warm_search, "q_sql", lambda q: ("true", []))
    search, _ = _search("")
    regular = people["regular"]
    assert _archive_page_fast(principal=regular, condition=search.condition, limit=100, offset=0, order="newest",
                              start=None, end=None) is None
    page = archive_page(principal=regular, condition=search.condition, limit=100)
    assert {event.event_id for event in page.events if event.archived} == VISIBLE["regular"] | {"warm-1", "warm-3"}


def test_segments_outside_the_searched_time_are_not_opened(people, archived):
    search, (start, end) = _search("timestamp:>now-36d")
    page = archive_page(principal=people["admin"], condition=search.condition, limit=10, start=start, end=end)
    assert [event.event_id for event in page.events if event.archived] == ["warm-5"]
    assert page.segments_searched == 1
    january = QueryDict("start_date=2026-01-01&end_date=2026-01-31")
    search = search_from_params(january, now=timezone.now())
    page = archive_page(principal=people["admin"], condition=search.condition, limit=10, start=time_bounds(january)[0],
                        end=time_bounds(january)[1])
    assert {event.event_id for event in page.events} == {"alice-p1", "carol-p2"}
