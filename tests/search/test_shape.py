"""The shape of a search (histogram by outcome, facets) counts what each role may see, and the
viewer's links from it narrow the search to exactly the counted events."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from django.db.models import Q

from apps.events.ingest import event_ingest
from apps.events.models import Event
from apps.search.shape import event_facets, event_histogram, step_for

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 10, tzinfo=timezone.utc)
OUTCOMES = ("success", "failure", "denied", "error")
ACTORS = (("alice", "alice@example.com"), ("bob", ""), ("carol", "carol@example.com"), ("max", ""), ("svc", ""))


@pytest.fixture
def known(people):
    """120 events over three days in January: who, what, where and how they ended vary by index."""
    rows = []
    for i in range(120):
        actor_id, email = ACTORS[i % 5]
        rows.append({
            "event_id": f"shape-{i}", "timestamp": (START + timedelta(minutes=37 * i)).isoformat(),
            "action": ("auth.login", "storage.object.read", "iam.role.update")[i % 3],
            "outcome": OUTCOMES[(i // 2) % 4], "project": ("p1", "p2", "")[i % 3],
            "ip_address": f"10.0.0.{i % 7}", "resource": {"type": ("server", "bucket")[i % 2], "id": f"r{i % 4}"},
            "actor": {"type": "user" if actor_id != "svc" else "service", "id": actor_id, "email": email},
        })
    event_ingest(rows)
    return {row["event_id"]: row for row in rows}


def seen(user, known) -> list[dict]:
    ids = set(Event.objects.visible_to(user).values_list("event_id", flat=True))
    return [row for event_id, row in known.items() if event_id in ids]


def when(row) -> datetime:
    return datetime.fromisoformat(row["timestamp"])


PERSONAS = ["admin", "analyst_p1", "manager", "regular", "auditor"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_histograms_buckets_are_the_visible_events_per_hour_and_outcome(known, people, persona):
    user = people[persona]
    end = START + timedelta(days=3)
    histogram = event_histogram(principal=user, filters=Q(), start=START, end=end)
    assert histogram.step == "hour" and len(histogram.bars) == 72
    expected = Counter((when(row).replace(minute=0), row["outcome"]) for row in seen(user, known) if when(row) < end)
    got = Counter({(begin, outcome): n for begin, _, counts in histogram.bars for outcome, n in counts.items()})
    assert got == expected
    assert histogram.total == sum(expected.values()) > 0


def test_the_histogram_counts_only_the_search_and_the_span(known, people):
    user = people["admin"]
    start, end = START + timedelta(hours=5), START + timedelta(hours=29)
    histogram = event_histogram(principal=user, filters=Q(outcome="failure"), start=start, end=end)
    expected = [row for row in known.values() if row["outcome"] == "failure" and start <= when(row) < end]
    assert histogram.total == len(expected) > 0
    assert all(set(counts) <= {"failure"} for _, _, counts in histogram.bars)


@pytest.mark.parametrize("span,step", [(timedelta(minutes=15), "minute"), (timedelta(hours=24), "hour"),
                                       (timedelta(days=7), "hour"), (timedelta(days=30), "day")])
def test_the_bucket_follows_the_range(span, step):
    assert step_for(START, START + span)[0] == step


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_facet_holds_the_top_values_of_the_visible_events(known, people, persona):
    user = people[persona]
    rows = seen(user, known)
    facets = {facet.key: facet.values for facet in event_facets(principal=user, filters=Q())}

    def top(values) -> list[tuple[str, int]]:
        counted = Counter(value for value in values if value)
        return sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:5]

    assert facets["actor"] == top((row["actor"]["email"] or row["actor"]["id"]).lower() for row in rows)
    assert facets["action"] == top(row["action"] for row in rows)
    assert facets["outcome"] == top(row["outcome"] for row in rows)
    assert facets["ip"] == top(row["ip_address"] for row in rows)
    assert facets["resource_type"] == top(row["resource"]["type"] for row in rows)
    assert facets["project"] == top(row["project"] for row in rows) or (
        # An empty project is a value of its own ("(empty)"), counted like the others.
        facets["project"] == sorted(Counter(row["project"] for row in rows).items(), key=lambda i: (-i[1], i[0]))[:5])
    if persona == "regular":
        assert facets["actor"] == [("alice@example.com", len(rows))]


def test_facets_of_a_search_with_nothing_visible_are_empty(known, people):
    assert all(not facet.values for facet in event_facets(principal=people["no_role"], filters=Q()))


# --- in the viewer -------------------------------------------------------------------------------

def links(html: str, css_class: str) -> list[str]:
    return [unescape(href) for href in re.findall(rf'<a class="{css_class}[^"]*" href="([^"]+)"', html)]


@pytest.mark.parametrize("persona", ["analyst", "manager"])
def test_a_facet_value_link_narrows_the_search_to_the_events_it_counts(known, browser_for, persona):
    client = browser_for(persona)
    base = "/events/?q=action:auth.login&start_date=2026-01-10&end_date=2026-01-13"
    page = client.get(base)
    facets = page.context["facets"]
    assert facets
    for facet, values in facets:
        for value in values:
            narrowed = client.get("/events/?" + value.add_qs).context["page"]
            assert narrowed.total == value.count, (facet.key, value.value)
            excluded = client.get("/events/?" + value.exclude_qs).context["page"]
            assert excluded.total == page.context["page"].total - value.count, (facet.key, value.value)


def test_the_facets_and_histogram_are_rendered_above_the_results_with_their_links(known, browser_for):
    html = browser_for("analyst").get("/events/?start_date=2026-01-10&end_date=2026-01-12").content.decode()
    assert html.index('class="histogram-chart"') < html.index('class="facets"') < html.index('<table class="events"')
    assert len(links(html, "facet-add")) == len(links(html, "facet-not")) > 10
    assert 'style="' not in html and "<script>" not in html


def test_a_histogram_bar_links_to_its_bucket_with_its_count(known, browser_for):
    client = browser_for("analyst")
    response = client.get("/events/?start_date=2026-01-10&end_date=2026-01-10")
    histogram = response.context["histogram"]
    assert histogram.step == "hour" and len(histogram.bars) == 24
    html = response.content.decode()
    bars = re.findall(r'<a class="hbar" href="([^"]+)"', html)
    assert len(bars) == 24
    for href, (_, _, counts) in zip(bars, histogram.bars):
        assert client.get("/events/" + unescape(href)).context["page"].total == sum(counts.values())


@pytest.mark.parametrize("hours", [24, 24 * 7, 24 * 30])
def test_a_histogram_of_time_alone_read_from_the_rollups_equals_the_one_counted_from_the_events(people, hours, monkeypatch):
    from django.utils import timezone as django_timezone

    from apps.events import rollups
    from apps.search.activity import SYSTEMS, activity_q

    now = django_timezone.now()
    event_ingest([{"event_id": f"recent-{i}", "timestamp": (now - timedelta(minutes=53 * i)).isoformat(),
                   "action": "auth.login", "outcome": OUTCOMES[i % 4], "actor": {"id": "alice"}} for i in range(700)])
    admin = people["admin"]
    condition = activity_q(SYSTEMS) & Q(occurred_at__gte=now - timedelta(hours=hours))
    start, end = now - timedelta(hours=hours), now + timedelta(seconds=1)
    counted = event_histogram(principal=admin, filters=condition, start=start, end=end)
    read, series = [], rollups.rollup_series
    # Not a stand-in: the real rollup read, recorded, to know that this path was taken.
    monkeypatch.setattr(rollups, "rollup_series", lambda **kwargs: read.append(kwargs) or series(**kwargs))
    from_rollups = event_histogram(principal=admin, filters=condition, start=start, end=end, only_time=True)
    assert read and {call["dimension"] for call in read} == {"outcome"}
    assert from_rollups.bars == counted.bars and from_rollups.total > 0
    # A user who does not see the whole log is never answered from the rollups.
    assert event_histogram(principal=people["regular"], filters=condition, start=start, end=end, only_time=True).bars \
        == event_histogram(principal=people["regular"], filters=condition, start=start, end=end).bars


def test_a_search_over_years_is_drawn_in_calendar_months_or_years_not_thousands_of_days(people):
    from datetime import datetime, timezone

    from apps.events.ingest import event_ingest
    from apps.search.shape import MAX_BARS, event_histogram

    event_ingest([{"event_id": f"y-{year}", "action": "demo.thing.do", "timestamp": f"{year}-06-15T10:00:00Z"}
                  for year in (2019, 2020, 2023, 2025)])
    start, end = datetime(2019, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)

    histogram = event_histogram(principal=people["analyst"], filters=Q(), start=start, end=end)

    assert histogram.step == "month" and len(histogram.bars) == 84 <= MAX_BARS
    june_2023 = [counts for begin, _, counts in histogram.bars if (begin.year, begin.month) == (2023, 6)]
    assert june_2023 == [{"unknown": 1}] and histogram.total == 4  # no outcome given: unknown


# --- a search with more matches than the list counts exactly: an estimated histogram ---------


def sampled_expectation(user, known, condition, start, end, rate) -> Counter:
    """Each visible match whose seq hashes to a multiple of `rate` (PostgreSQL's own hashint8, asked
    for each seq apart), counted `rate` times in its hour."""
    from django.db import connection

    seqs = dict(Event.objects.values_list("event_id", "seq"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT s, hashint8(s) FROM unnest(%s::bigint[]) AS s", [list(seqs.values())])
        hashes = dict(cursor.fetchall())
    return Counter({key: n * rate for key, n in Counter(
        (when(row).replace(minute=0), row["outcome"]) for row in seen(user, known)
        if condition(row) and start <= when(row) < end and hashes[seqs[row["event_id"]]] % rate == 0).items()})


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_histogram_of_many_matches_is_estimated_from_every_nth_event_and_says_so(known, people, persona,
                                                                                   monkeypatch):
    from apps.search import shape

    monkeypatch.setattr(shape, "SAMPLE_ROWS", 16)  # 120 events in the span: one in 8 is read
    user, end = people[persona], START + timedelta(days=3)
    histogram = event_histogram(principal=user, filters=~Q(action="iam.role.update"), start=START, end=end, many=True)

    assert (histogram.approximate, histogram.sample_rate) == (True, 8)
    got = Counter({(begin, outcome): n for begin, _, counts in histogram.bars for outcome, n in counts.items()})
    assert got == sampled_expectation(user, known, lambda row: row["action"] != "iam.role.update", START, end, 8)
    assert len(histogram.bars) == 72


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_facets_of_an_estimated_histogram_are_its_samples_top_values(known, people, persona, monkeypatch):
    from django.db import connection

    from apps.search import shape

    monkeypatch.setattr(shape, "SAMPLE_ROWS", 16)  # one event in 8
    user, end = people[persona], START + timedelta(days=3)
    histogram = event_histogram(principal=user, filters=Q(), start=START, end=end, many=True)
    facets = {facet.key: facet for facet in event_facets(principal=user, filters=Q(), histogram=histogram)}

    seqs = dict(Event.objects.values_list("event_id", "seq"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT s, hashint8(s) FROM unnest(%s::bigint[]) AS s", [list(seqs.values())])
        hashes = dict(cursor.fetchall())
    sampled = [row for row in seen(user, known) if when(row) < end and hashes[seqs[row["event_id"]]] % 8 == 0]

    def top(values) -> list[tuple[str, int]]:
        counted = Counter(value for value in values if value)
        return [(value, n * 8) for value, n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:5]]

    assert all(facet.approximate for facet in facets.values())
    assert facets["actor"].values == top((row["actor"]["email"] or row["actor"]["id"]).lower() for row in sampled)
    assert facets["action"].values == top(row["action"] for row in sampled)
    assert facets["outcome"].values == top(row["outcome"] for row in sampled)
    assert facets["ip"].values == top(row["ip_address"] for row in sampled)
    # Without an estimated histogram, the facets are counted exactly, as before.
    assert not any(facet.approximate for facet in event_facets(principal=user, filters=Q()))


def test_the_estimate_is_exact_when_the_span_is_small_enough_to_read_whole(known, people):
    user, end = people["admin"], START + timedelta(days=3)
    exact = event_histogram(principal=user, filters=Q(outcome="failure"), start=START, end=end)
    estimated = event_histogram(principal=user, filters=Q(outcome="failure"), start=START, end=end, many=True)
    assert (estimated.approximate, estimated.sample_rate) == (False, 1)
    assert estimated.bars == exact.bars and exact.total > 0


@pytest.mark.parametrize("events,rate", [(0, 1), (8_000, 1), (8_001, 2), (780_000, 128), (10_000_000, 2048)])
def test_the_sample_rate_keeps_the_events_read_under_the_bound(events, rate):
    from apps.search.shape import SAMPLE_ROWS, sample_rate_for

    assert sample_rate_for(events) == rate and events / rate <= SAMPLE_ROWS


def test_the_viewer_marks_an_estimated_histogram_and_exact_ones_not(known, browser_for, monkeypatch):
    from apps.search import reads, shape

    client = browser_for("analyst")
    # A filter besides the time range (a range alone is read from the rollups, exactly).
    url = "/events/?start_date=2026-01-10&end_date=2026-01-12&outcome=failure"
    exact = client.get(url)
    assert not exact.context["histogram"].approximate and "Approximate" not in exact.content.decode()

    monkeypatch.setattr(reads, "COUNT_CAP", 10)  # the list now says "10+": more matches than it counts
    monkeypatch.setattr(shape, "SAMPLE_ROWS", 16)
    estimated = client.get(url)
    assert estimated.context["histogram"].approximate
    html = estimated.content.decode()
    assert "Approximate · estimated from 1 event in 8" in html
    assert "(estimated from 1 event in 8)" in html  # the chart's own text says so too
    assert "Top values estimated, as the histogram is, from 1 event in 8" in html
    assert re.search(r'class="num facet-count" data-count="\d+">≈\d', html)


def test_a_pattern_in_the_order_events_arrive_is_not_sampled_at_one_place(people, monkeypatch):
    """A client sends batches of 8 events in the same order, the first a failure: every 8th seq
    would find all failures or none; the hashed sample finds some of each, near the truth."""
    from apps.search import shape

    event_ingest([{"event_id": f"batch-{i}", "timestamp": (START + timedelta(minutes=i)).isoformat(),
                   "action": "job.step.run", "outcome": "failure" if i % 8 == 0 else "success"} for i in range(480)])
    monkeypatch.setattr(shape, "SAMPLE_ROWS", 60)  # one event in 8
    histogram = event_histogram(principal=people["admin"], filters=Q(), start=START, end=START + timedelta(days=1),
                                many=True)
    assert histogram.sample_rate == 8
    estimated = Counter()
    for _, _, counts in histogram.bars:
        estimated.update(counts)
    assert 0 < estimated["failure"] < 240 and 0 < estimated["success"]  # the truth: 60 failures, 420 successes
