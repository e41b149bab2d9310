"""The Roles page and what is enforced come from one source (apps.rbac.roles.ROLES): for every role,
each feature of the viewer and dashboard opens exactly when the role's permissions say so, and the
Roles page lists exactly those permissions."""
from __future__ import annotations

import pytest

from apps.rbac.models import Role
from apps.rbac.roles import GENERATE_REPORTS, ROLE_BY_SLUG, USE_SAVED_QUERIES, VIEW_ACCESS, VIEW_EVENTS

pytestmark = pytest.mark.django_db

PERSONA_ROLES = {
    "admin": Role.Slug.AUDIT_ADMINISTRATOR, "analyst": Role.Slug.SECURITY_ANALYST,
    "compliance": Role.Slug.COMPLIANCE_OFFICER, "manager": Role.Slug.MANAGER,
    "regular": Role.Slug.REGULAR_USER, "auditor": Role.Slug.EXTERNAL_AUDITOR,
}
# Each feature page and the permission it is offered under on the Roles page.
FEATURES = [
    ("/events/", VIEW_EVENTS), ("/", VIEW_EVENTS), ("/events/live/", VIEW_EVENTS),
    ("/events/saved/", USE_SAVED_QUERIES), ("/events/saved/new/", USE_SAVED_QUERIES),
    ("/reports/", GENERATE_REPORTS), ("/access/roles/", VIEW_ACCESS),
]


def holds(persona: str, permission: str) -> bool:
    return permission in ROLE_BY_SLUG[PERSONA_ROLES[persona].value].permissions


@pytest.mark.parametrize("persona", list(PERSONA_ROLES))
@pytest.mark.parametrize("path,permission", FEATURES, ids=[path for path, _ in FEATURES])
def test_each_feature_opens_exactly_for_the_roles_that_hold_its_permission(people, browser_for, persona, path, permission):
    status = browser_for(persona).get(path).status_code
    assert status == (200 if holds(persona, permission) else 403), (persona, path, status)


def test_a_regular_user_may_not_save_queries_as_the_roles_page_says(people, browser_for, log):
    client = browser_for("regular")
    assert client.post("/events/saved/new/", {"name": "mine", "q": "outcome:failure"}).status_code == 403
    page = client.get("/events/").content.decode()
    assert "Save search" not in page and "Saved queries" not in page
    assert client.get("/events/?saved=anything").status_code == 403


def test_the_roles_page_lists_each_roles_permissions_from_the_same_definition(people, browser_for):
    response = browser_for("admin").get("/access/roles/")
    assert response.status_code == 200
    html = response.content.decode()
    for persona, slug in PERSONA_ROLES.items():
        role = Role.objects.get(slug=slug)
        assert {permission.content_type.app_label + "." + permission.codename for permission in role.permissions.all()} \
            == set(ROLE_BY_SLUG[slug.value].permissions), slug
        assert role.name in html


def test_saving_a_search_goes_back_to_its_results(people, browser_for, log):
    response = browser_for("analyst").post("/events/saved/new/", {"name": "Failures", "q": "outcome:failure"})
    assert response.status_code == 302 and response["Location"] == "/events/?saved=failures"


def test_a_manager_of_no_team_is_told_why_they_see_only_their_own_events(people, browser_for):
    client = browser_for("lena")
    for path in ("/events/", "/"):
        assert "You are a Manager of no team yet" in client.get(path).content.decode(), path
    # A manager with a team, and everyone else, get no such note.
    for persona in ("manager", "manager_of_ops", "regular", "analyst"):
        assert "Manager of no team" not in browser_for(persona).get("/events/").content.decode(), persona


def test_saving_a_search_asks_for_a_name_and_shows_the_views_filters_not_raw_parameters(people, browser_for):
    html = browser_for("analyst").get("/events/saved/new/", {"q": "outcome:failure", "range": "24h",
                                                              "severity": "high"}).content.decode()
    assert '<span class="chip">range=24h</span>' in html and '<span class="chip">severity=high</span>' in html
    start = html.index('<details class="more">')
    folded = html[start:html.index("</details>", start)]
    assert 'name="filters"' in folded and 'name="slug"' in folded
