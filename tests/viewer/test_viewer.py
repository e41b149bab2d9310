"""The event viewer (/events/), the event detail (page and panel) and "Verify this event"."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection

from apps.search import reads
from apps.viewer import views
from apps.events.chain import checkpoint_create
from apps.events.ingest import event_ingest
from apps.rbac.models import UserPreference

from tests.factories import as_owner

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "results"}
HTMX_PANEL = {"HX-Request": "true", "HX-Target": "panel"}
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="alert(1)">'


def at(minutes_ago: float) -> str:
    return (datetime.now(dt_timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()


def event(event_id: str, action: str = "auth.login", minutes_ago: float = 10, **fields) -> dict:
    return {"event_id": event_id, "action": action, "timestamp": at(minutes_ago), **fields}


def row_ids(response) -> list[str]:
    return re.findall(r'<tr class="event-row" data-event="([^"]+)"', response.content.decode())


@pytest.fixture
def analyst_client(browser_for):
    """sam, the Security Analyst persona: sees every event."""
    return browser_for("analyst")


@pytest.fixture
def small_log(db):
    return event_ingest([
        event("login-fail-alice", status="failed", actor={"email": "alice@example.com"}, auth_method="password",
              ip_address="203.0.113.5", minutes_ago=5),
        event("login-ok-alice", status="success", actor={"email": "alice@example.com"}, auth_method="saml",
              minutes_ago=6),
        event("role-update-bob", "iam.role.update", severity="high", actor={"email": "bob@example.com"},
              resource={"type": "role", "id": "role-admin"}, minutes_ago=7, trace_id="trace-1",
              changes={"before": {"members": ["bob"], "spec": {"admin": False}},
                       "after": {"members": ["bob", "mallory"], "spec": {"admin": True}}}),
        event("login-fail-old", status="failed", actor={"email": "carol@example.com"}, minutes_ago=60 * 24 * 3),
    ])


# --- the list ------------------------------------------------------------------------------------


def test_it_lists_events_newest_first(analyst_client, small_log):
    response = analyst_client.get("/events/")
    assert response.status_code == 200
    assert row_ids(response) == ["login-fail-alice", "login-ok-alice", "role-update-bob", "login-fail-old"]


def test_the_filter_bar_and_the_query_box_combine_with_and(analyst_client, small_log):
    response = analyst_client.get("/events/", {"q": "action:auth.*", "outcome": "failure", "range": "24h"})
    assert row_ids(response) == ["login-fail-alice"]
    # The form shows what was asked.
    body = response.content.decode()
    assert 'value="action:auth.*"' in body
    assert 'value="failure" id="id_outcome_1" checked' in body
    assert '<option value="24h" selected>' in body


def test_it_sorts_oldest_first(analyst_client, small_log):
    response = analyst_client.get("/events/", {"sort": "oldest"})
    assert row_ids(response) == ["login-fail-old", "role-update-bob", "login-ok-alice", "login-fail-alice"]


def test_an_invalid_query_answers_200_with_a_message_pointing_at_its_column(analyst_client, small_log):
    response = analyst_client.get("/events/", {"q": "outcome:failure AND nosuch:1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Query error at column 21" in body
    assert "unknown field &#x27;nosuch&#x27;" in body
    # The caret: the offending part is marked inside the query as typed.
    assert "outcome:failure AND <mark>nosuch</mark>:1" in body
    assert row_ids(response) == []


def test_an_invalid_filter_names_the_filter(analyst_client, small_log):
    response = analyst_client.get("/events/", {"ip": "10.0.*.1"})
    assert response.status_code == 200
    assert "<strong>Source IP</strong>: bad IP wildcard" in response.content.decode()


def test_an_htmx_request_gets_the_results_partial_with_the_feedback_out_of_band(analyst_client, small_log):
    response = analyst_client.get("/events/", {"q": "actor:"}, headers=HTMX_RESULTS)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="viewer-form"' not in body
    assert body.strip().startswith('<section id="results"')
    assert 'id="query-feedback" class="query-feedback" hx-swap-oob="true"' in body
    assert "Query error at column 7" in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_a_plain_request_gets_the_whole_page(analyst_client, small_log):
    body = analyst_client.get("/events/", {"q": "actor:alice@example.com"}).content.decode()
    assert "<html" in body and 'id="viewer-form"' in body and 'id="results"' in body
    assert 'hx-swap-oob' not in body
    assert 'hx-push-url="true"' in body


def test_the_help_lists_the_fields_and_the_seed_examples(analyst_client, small_log):
    body = analyst_client.get("/events/").content.decode()
    assert "Query language help" in body
    assert "event_type:authentication.login AND status:failed AND timestamp:&gt;now-24h" in body
    assert ">source_ip NOT IN (10.0.0.0/8, 192.168.0.0/16) AND last 24h<" in body
    assert '<td class="mono nowrap">ip_address</td>' in body


def test_counts_are_exact_up_to_the_cap_and_shown_with_a_plus_past_it(analyst_client, small_log, monkeypatch):
    assert "<strong>4</strong> events" in analyst_client.get("/events/").content.decode()
    monkeypatch.setattr(reads, "COUNT_CAP", 3)
    assert "<strong>3+</strong> events" in analyst_client.get("/events/").content.decode()


def test_a_capped_count_reads_10000_plus(analyst_client, small_log, monkeypatch):
    monkeypatch.setattr(reads, "COUNT_CAP", 10_000)
    page = reads.Page(events=[], total=10_000, total_is_exact=False, next_cursor=None)
    monkeypatch.setattr(reads, "event_page", lambda **kwargs: page)
    assert "<strong>10,000+</strong> events" in analyst_client.get("/events/").content.decode()


def test_the_columns_come_from_the_url_and_are_remembered(analyst_client, people, small_log):
    body = analyst_client.get("/events/", {"cols": "seq,trace_id"}).content.decode()
    headers = re.findall(r'<th scope="col" class="col-(\w+)"', body)
    assert headers == ["time", "seq", "trace_id"]
    assert UserPreference.objects.get(user=people["analyst"]).columns == ["seq", "trace_id"]
    # Next visit without cols: the remembered ones.
    body = analyst_client.get("/events/").content.decode()
    assert re.findall(r'<th scope="col" class="col-(\w+)"', body) == ["time", "seq", "trace_id"]


def test_times_are_in_utc_with_the_users_own_zone_beside_them(analyst_client, people):
    event_ingest([{"event_id": "tz-1", "action": "auth.login", "timestamp": "2026-03-10T14:30:45Z"}])
    UserPreference.objects.create(user=people["analyst"], time_zone="Asia/Dhaka")
    body = analyst_client.get("/events/").content.decode()
    assert ">2026-03-10 14:30:45</a>" in body
    assert '<span class="localtime">20:30:45 +06</span>' in body


def test_attacker_controlled_text_is_shown_as_text_in_the_list(analyst_client, db):
    event_ingest([event("hostile", description=HOSTILE, actor={"name": HOSTILE}, resource={"id": HOSTILE})])
    body = analyst_client.get("/events/", {"cols": "actor,resource,description"}).content.decode()
    assert "<script>window.pwned" not in body and "<img src=x" not in body
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in body


def test_a_page_of_the_list_takes_a_bounded_number_of_queries(analyst_client, db, django_assert_max_num_queries):
    event_ingest([event(f"q-{i}", minutes_ago=i, actor={"email": f"u{i}@example.com"}) for i in range(60)])
    params = {"q": "action:auth.*", "range": "24h", "cols": "actor,ip"}
    analyst_client.get("/events/", params)  # the first visit remembers the columns
    # Session, user, role grants, preferences, count, page, histogram, facets, saved-query menu,
    # and the session's save (with its savepoint): the same whatever the number of rows.
    with django_assert_max_num_queries(12):
        response = analyst_client.get("/events/", params)
    assert len(row_ids(response)) == 50


def test_a_user_sees_only_the_events_in_their_scope(browser_for, small_log):
    client = browser_for("regular")
    assert row_ids(client.get("/events/")) == ["login-fail-alice", "login-ok-alice"]


def test_a_user_without_the_permission_is_refused(browser_for):
    assert browser_for("no_role").get("/events/").status_code == 403


def test_a_bad_cursor_sends_back_to_the_first_page(analyst_client, small_log):
    response = analyst_client.get("/events/", {"cursor": "not-a-cursor", "outcome": "failure"})
    assert response.status_code == 302
    assert response["Location"] == "/events/?outcome=failure"


# --- paging while events keep arriving -----------------------------------------------------------


@pytest.fixture
def paged(analyst_client, monkeypatch, db):
    monkeypatch.setattr(views, "PAGE_SIZE", 10)
    event_ingest([event(f"p-{i:02d}", minutes_ago=100 - i) for i in range(25)])  # p-24 is the newest
    return analyst_client


def follow(client, response, rel: str):
    match = re.search(rf'rel="{rel}" href="\?([^"]+)"', response.content.decode())
    if match is None:
        return None
    return client.get("/events/?" + match.group(1).replace("&amp;", "&"), headers=HTMX_RESULTS)


def test_paging_older_then_newer_has_no_gaps_or_repeats_while_events_arrive(paged):
    seen: list[str] = []
    response = paged.get("/events/")
    pages = []
    while response is not None:
        ids = row_ids(response)
        pages.append(ids)
        seen.extend(ids)
        # New events keep arriving at the top while the user pages back in time.
        event_ingest([event(f"new-{len(pages)}", minutes_ago=0)])
        response, last = follow(paged, response, "next"), response
    assert seen == [f"p-{i:02d}" for i in range(24, -1, -1)]
    assert [len(ids) for ids in pages] == [10, 10, 5]

    # Back up with "Newer": the same pages in reverse, then the events that arrived meanwhile.
    back: list[list[str]] = []
    response = follow(paged, last, "prev")
    while response is not None:
        back.append(row_ids(response))
        response = follow(paged, response, "prev")
    assert back[0] == pages[1] and back[1] == pages[0][:10]
    walked = [event_id for ids in reversed(back) for event_id in ids]
    assert len(walked) == len(set(walked))
    assert set(walked) >= {f"new-{n}" for n in (1, 2, 3)}


def test_a_late_event_with_an_old_timestamp_shows_up_where_it_belongs_without_repeats(paged):
    first = paged.get("/events/")
    event_ingest([event("late", minutes_ago=100 - 2.5)])  # between p-02 and p-03, on the last page
    second = follow(paged, first, "next")
    third = follow(paged, second, "next")
    ids = row_ids(first) + row_ids(second) + row_ids(third)
    assert len(ids) == len(set(ids)) == 26
    assert ids.index("late") == ids.index("p-03") + 1


def test_paging_works_oldest_first_too(paged):
    response = paged.get("/events/", {"sort": "oldest"})
    ids = row_ids(response)
    response = follow(paged, response, "next")
    ids += row_ids(response)
    assert ids == [f"p-{i:02d}" for i in range(20)]
    assert "Newer →" in response.content.decode()


# --- one event -----------------------------------------------------------------------------------


def test_the_detail_page_shows_every_field_the_diff_and_the_chain(analyst_client, small_log):
    body = analyst_client.get("/events/role-update-bob/").content.decode()
    assert "<html" in body
    for text in ("iam.role.update", "bob@example.com", "role-admin", "trace-1", "#3", "sha256:"):
        assert text in body
    assert re.search(r'<tr class="diff-added">.*?members\[1\].*?mallory', body, re.S)
    assert re.search(r'<tr class="diff-changed">.*?spec\.admin.*?false.*?true', body, re.S)
    assert re.search(r'<tr class="diff-same">.*?members\[0\]', body, re.S)
    assert "Verify this event" in body


def test_the_detail_opens_as_a_panel_for_htmx(analyst_client, small_log):
    body = analyst_client.get("/events/role-update-bob/", headers=HTMX_PANEL).content.decode()
    assert "<html" not in body
    assert 'class="panel-inner"' in body and "Open full page" in body and "data-close-panel" in body


def test_the_detail_offers_pivots(analyst_client, small_log):
    body = analyst_client.get("/events/role-update-bob/").content.decode()
    assert "/events/?trace_id=trace-1&amp;range=all&amp;sort=oldest" in body
    assert "/events/?actor=bob%40example.com&amp;range=all" in body
    assert "/events/?resource_type=role&amp;resource_id=role-admin&amp;range=all&amp;sort=oldest" in body


def test_attacker_controlled_text_is_shown_as_text_in_the_detail_and_the_diff(analyst_client, db):
    event_ingest([event("hostile-detail", description=HOSTILE, actor={"name": HOSTILE},
                        changes={"before": {HOSTILE: HOSTILE}, "after": {"note": HOSTILE}}, metadata={"x": HOSTILE})])
    for headers in ({}, HTMX_PANEL):
        body = analyst_client.get("/events/hostile-detail/", headers=headers).content.decode()
        assert "<script>window.pwned" not in body and "<img src=x" not in body
        assert body.count("&lt;script&gt;window.pwned=1&lt;/script&gt;") >= 5


def test_an_event_outside_the_scope_is_not_found(browser_for, small_log):
    client = browser_for("regular")
    assert client.get("/events/role-update-bob/").status_code == 404
    assert client.get("/events/role-update-bob/verify/").status_code == 404
    assert client.get("/events/login-fail-alice/").status_code == 200


def test_the_detail_takes_a_bounded_number_of_queries(analyst_client, small_log, django_assert_max_num_queries):
    analyst_client.get("/events/")
    with django_assert_max_num_queries(8):
        assert analyst_client.get("/events/role-update-bob/", headers=HTMX_PANEL).status_code == 200


# --- verification --------------------------------------------------------------------------------


def test_verify_says_verified_when_neighbours_and_the_signed_checkpoint_agree(analyst_client, small_log):
    checkpoint_create()
    body = analyst_client.get("/events/login-ok-alice/verify/", headers={"HX-Request": "true"}).content.decode()
    assert 'class="verify verify-verified"' in body
    assert body.count('class="check check-ok"') == 5
    assert "Checkpoint #4 is signed" in body


def test_verify_without_a_checkpoint_is_partial_and_says_why(analyst_client, small_log):
    body = analyst_client.get("/events/login-ok-alice/verify/", headers={"HX-Request": "true"}).content.decode()
    assert 'class="verify verify-partial"' in body
    assert "No signed checkpoint covers this event yet" in body


def test_verify_fails_and_names_the_problem_when_an_event_was_changed(analyst_client, small_log):
    checkpoint_create()
    with as_owner() as cursor:
        cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER ALL")
        cursor.execute("UPDATE audit_event SET actor_email = 'mallory@example.com' WHERE seq = 2")
        cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER ALL")
    body = analyst_client.get("/events/login-ok-alice/verify/", headers={"HX-Request": "true"}).content.decode()
    assert 'class="verify verify-failed"' in body
    assert "the event was changed after it was written" in body
    # Its neighbour still links to the hash it had, which is what gives the change away.
    body = analyst_client.get("/events/login-fail-alice/verify/", headers={"HX-Request": "true"}).content.decode()
    assert 'class="verify verify-failed"' in body


def test_verify_without_htmx_renders_the_detail_page_with_the_result(analyst_client, small_log):
    body = analyst_client.get("/events/login-ok-alice/verify/").content.decode()
    assert "<html" in body and 'class="verify verify-partial"' in body
