"""The query help's examples (seeds 001, 002 and 004, as written) find what they describe in the demo data,
and the help shows how many events each finds."""
from __future__ import annotations

import re

import pytest
from django.utils import timezone

from apps.demo.generator import demo_seed
from apps.events.models import Event
from apps.events.query import parse_query
from apps.viewer.views import QUERY_EXAMPLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    # make run's data, small: the same generator and stories, over the last days up to now.
    return demo_seed(events=3000, days=7, seed=7, end=timezone.now())


@pytest.mark.parametrize("label,query", QUERY_EXAMPLES, ids=[label for label, _ in QUERY_EXAMPLES])
def test_each_help_example_finds_events_in_the_demo_data(demo, browser_for, label, query):
    response = browser_for("analyst").get("/events/", {"q": query, "range": "all"})
    assert response.status_code == 200
    assert response.context["query_error"] is None
    assert response.context["page"].total > 0, (label, query)


def test_the_seeds_failed_sign_in_example_finds_the_demos_auth_login_failures(demo):
    found = Event.objects.filter(parse_query("event_type:authentication.login AND status:failed AND timestamp:>now-24h"))
    assert found.exists()
    assert set(found.values_list("action", flat=True)) == {"auth.login"}
    assert set(found.values_list("outcome", flat=True)) == {"failure"}


@pytest.mark.parametrize("written,finds", [
    ("action:authentication.login", "auth.login"), ("action:auth.login", "authentication.login"),
    ("event_type:authorization.*", "authz.check"), ("action:authentication.*", "auth.mfa.verify"),
])
def test_authentication_and_auth_are_one_family_of_actions(written, finds, ingest):
    ingest({"action": finds, "actor": {"type": "user", "id": "u1"}})
    assert Event.objects.filter(parse_query(written), action=finds).count() == 1


def test_the_help_lists_each_example_as_a_link_with_its_count(demo, browser_for):
    client = browser_for("analyst")
    page = client.get("/events/").content.decode()
    assert 'hx-get="/events/examples/"' in page
    counted = client.get("/events/examples/", HTTP_HX_REQUEST="true")
    assert counted.status_code == 200
    html = counted.content.decode()
    counts = [int(n) for n in re.findall(r'data-count="(\d+)"', html)]
    assert len(counts) == len(QUERY_EXAMPLES) and all(counts), counts
    for (_, query), count in zip(QUERY_EXAMPLES, counts):
        shown = client.get("/events/", {"q": query, "range": "all"}).context["page"].total
        assert count == shown, query
    assert html.count('href="/events/?q=') == len(QUERY_EXAMPLES)


def test_the_counts_are_the_users_own(demo, browser_for, people):
    html = browser_for("regular").get("/events/examples/").content.decode()
    shown = [int(n) for n in re.findall(r'data-count="(\d+)"', html)]
    # The regular persona is alice@example.com, the demo's Alice: she sees her own events only.
    mine = Event.objects.visible_to(people["regular"]).exclude(category="audit")
    assert shown == [mine.filter(parse_query(query)).count() for _, query in QUERY_EXAMPLES]
    assert 0 < sum(shown) < Event.objects.filter(parse_query(QUERY_EXAMPLES[2][1])).count()


def test_the_examples_need_the_permission_to_view_events(browser_for, people):
    assert browser_for("no_role").get("/events/examples/").status_code == 403
