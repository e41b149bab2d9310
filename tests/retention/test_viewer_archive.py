"""The viewer's own Events page offers "Include archive": archived events come back for each
role exactly as the same search showed them before archiving, marked as archived, paged by
offset; without the toggle the page reads the events table alone."""
from __future__ import annotations

import pytest

from apps.retention.models import RetentionPolicy
from apps.retention.runs import retention_run
from tests.personas import VISIBLE


def _listed(client, **params):
    response = client.get("/events/", {"range": "all", "q": "action:demo.thing.do", **params})
    assert response.status_code == 200
    page = response.context["page"]
    return {event.event_id: getattr(event, "archived", False) for event in page.events}, response


@pytest.mark.parametrize("persona", ["admin", "analyst_p1", "manager", "regular", "auditor", "no_role"])
def test_include_archive_on_the_events_page_shows_each_role_what_it_saw_before(people, log, browser_for, persona):
    client = browser_for(persona)
    if persona == "no_role":
        assert client.get("/events/", {"archive": "1"}).status_code == 403
        return
    before, _ = _listed(client)
    assert set(before) == VISIBLE[persona]
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    retention_run()

    hot_only, _ = _listed(client)
    assert hot_only == {}
    with_archive, response = _listed(client, archive="1")
    assert with_archive == {event_id: True for event_id in VISIBLE[persona]}
    text = response.content.decode()
    assert text.count(">archived</span>") == len(VISIBLE[persona])
    assert 'id="include-archive" name="archive" value="1" checked' in text


def test_the_archive_is_paged_by_offset_and_a_bad_offset_is_the_first_page(people, log, browser_for):
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    retention_run()
    client = browser_for("admin")
    from apps.viewer import views

    views.PAGE_SIZE, size = 4, views.PAGE_SIZE
    try:
        first, response = _listed(client, archive="1")
        assert len(first) == 4 and "offset=4" in response.context["next_qs"]
        second, response = _listed(client, archive="1", offset="4")
        assert len(second) == 2 and not set(first) & set(second) and response.context["paged"]
        for bad in ("-3", "x", "99999999999"):
            page, _ = _listed(client, archive="1", offset=bad)
            assert len(page) <= 4
    finally:
        views.PAGE_SIZE = size


def test_the_htmx_results_partial_includes_the_archive_too(people, log, browser_for):
    RetentionPolicy.objects.filter(is_default=True).update(hot_days=1, warm_days=3650, cold_months=0)
    retention_run()
    response = browser_for("analyst").get("/events/", {"range": "all", "archive": "1"}, HTTP_HX_REQUEST="true",
                                        HTTP_HX_TARGET="results")
    text = response.content.decode()
    assert response.status_code == 200 and text.lstrip().startswith('<section id="results"')
    assert text.count(">archived</span>") >= len(VISIBLE["analyst"])
