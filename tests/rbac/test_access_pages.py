"""The access pages: forms that validate and explain, change nothing on error, show secrets once."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.rbac.models import ApiToken, AuditorLink, Role, RoleAssignment, Team
from apps.rbac.tokens import token_authenticate
from tests.factories import ApiClient

pytestmark = pytest.mark.django_db


def role_pk(slug: str) -> int:
    return Role.objects.get(slug=slug).pk


@pytest.fixture
def admin(browser_for) -> Client:
    return browser_for("admin")


def state() -> tuple:
    """Everything the access pages can change, to check that a refused form changed nothing."""
    User = get_user_model()
    return (
        sorted(User.objects.values_list("username", "is_active")),
        sorted(RoleAssignment.objects.values_list("user__username", "role__slug", "projects")),
        sorted(Team.objects.values_list("name", flat=True)),
        ApiToken.objects.count(),
        AuditorLink.objects.count(),
    )


# --- pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["users", "roles", "assignments", "teams", "tokens", "auditor-links"])
def test_each_access_page_renders_inside_the_console_layout_with_its_tab_current(admin, people, section):
    response = admin.get(f"/access/{section}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="topbar"' in html
    assert re.search(rf'href="/access/{section}/" aria-current="page"', html)
    assert response["Cache-Control"] == "no-store"


def test_the_access_item_leads_to_the_users_page(admin, people):
    response = admin.get("/access/", follow=True)

    assert response.redirect_chain == [("/access/users/", 302)]
    for persona in ("ada", "alice", "olga"):
        assert persona in response.content.decode()


def test_the_roles_page_shows_what_each_role_allows(admin, people):
    matrix = admin.get("/access/roles/").context["matrix"]
    allowed = {row["permission"]: row["cells"] for row in matrix}
    order = [r.slug for r in Role.objects.order_by("position")]

    def holders(permission):
        return {slug for slug, yes in zip(order, allowed[permission]) if yes}

    assert holders("rbac.export_events") == {"audit-administrator", "security-analyst"}
    assert holders("rbac.generate_reports") == {"audit-administrator", "compliance-officer"}
    assert holders("rbac.manage_roles") == {"audit-administrator"}
    assert holders("events.view_all_events") == {"audit-administrator", "security-analyst", "compliance-officer",
                                                 "external-auditor"}
    assert holders("rbac.view_team_events") == {"audit-administrator", "manager"}


def test_a_compliance_officer_sees_the_pages_without_their_forms(browser_for, people):
    html = browser_for("compliance").get("/access/assignments/").content.decode()

    assert "Assign a role" not in html
    assert "/access/assignments/create/" not in html


def test_the_access_pages_read_in_a_bounded_number_of_queries(admin, people, django_assert_max_num_queries):
    for page in ("users", "assignments", "tokens", "auditor-links", "roles"):
        with django_assert_max_num_queries(20):
            admin.get(f"/access/{page}/")


# --- users ---------------------------------------------------------------------------------------


def test_creating_a_user_without_a_password_gives_a_one_time_invitation(admin, people):
    response = admin.post("/access/users/create/", {"username": "newbie", "email": "newbie@example.com"})

    assert response.status_code == 200
    invite = response.context["invite_url"]
    assert "/accounts/invite/" in invite
    newbie = get_user_model().objects.get(username="newbie")
    assert not newbie.has_usable_password()

    path = invite.replace("http://testserver", "")
    visitor = Client()
    form_page = visitor.get(path, follow=True)
    assert b"Choose your password" in form_page.content
    set_path = form_page.redirect_chain[-1][0]
    visitor.post(set_path, {"new_password1": "a-long-enough-passphrase-7", "new_password2": "a-long-enough-passphrase-7"})
    newbie.refresh_from_db()
    assert newbie.has_usable_password()
    assert b"no longer works" in Client().get(path, follow=True).content


@pytest.mark.parametrize("body, field, message", [
    ({"username": "has space"}, "Username", "no spaces"),
    ({"username": "alice"}, "Username", "already exists"),
    ({"username": "zed", "email": "ALICE@example.com"}, "Email", "already has the email"),
    ({"username": "zed", "email": "not-an-email"}, "Email", "valid email"),
    ({"username": "zed", "password": "short"}, "Password", "too short"),
    ({"username": "zedlander", "password": "zedlander1234"}, "Password", "too similar"),
    ({"username": ""}, "Username", "required"),
])
def test_a_user_form_with_an_error_names_the_field_and_changes_nothing(admin, people, body, field, message):
    before = state()

    response = admin.post("/access/users/create/", body)

    assert response.status_code == 400
    errors = " ".join(re.findall(r'<p class="field-error" role="alert">(.*?)</p>', response.content.decode()))
    assert errors.startswith(f"{field}:") and message in errors, errors
    assert state() == before


def test_deactivating_a_user_stops_their_sign_in_and_their_tokens(admin, people):
    from apps.rbac.tokens import token_issue
    secret = token_issue(scope="read", user=people["analyst"]).secret

    assert admin.post(f"/access/users/{people['analyst'].pk}/deactivate/").status_code == 302

    assert ApiClient(secret).get("/api/v1/audit-logs").status_code == 401
    assert not get_user_model().objects.get(pk=people["analyst"].pk).is_active


# --- assignments ---------------------------------------------------------------------------------


def test_assigning_a_role_with_projects_limits_what_the_user_sees(admin, people, log):
    bob = people["bob"]

    response = admin.post("/access/assignments/create/", {
        "user": bob.pk, "role": role_pk(Role.Slug.SECURITY_ANALYST), "projects": "p2",
    })

    assert response.status_code == 302
    from apps.events.models import Event
    bob = get_user_model().objects.get(pk=bob.pk)
    assert set(Event.objects.visible_to(bob).values_list("event_id", flat=True)) == {
        "bob-p1", "alice-by-email-p2", "carol-p2", "max-p2"}


def test_assigning_a_manager_to_named_teams(admin, people):
    ops = Team.objects.get(name="ops")

    response = admin.post("/access/assignments/create/", {
        "user": people["analyst"].pk, "role": role_pk(Role.Slug.MANAGER), "teams": [ops.pk],
    })

    assert response.status_code == 302
    assignment = RoleAssignment.objects.get(user=people["analyst"], role__slug=Role.Slug.MANAGER)
    assert list(assignment.teams.all()) == [ops]


@pytest.mark.parametrize("body, field, message", [
    ({"role": Role.Slug.EXTERNAL_AUDITOR}, "Window from", "needs the audit period"),
    ({"role": Role.Slug.SECURITY_ANALYST, "window_start": "2026-01-01"}, "Window to", "both ends"),
    ({"role": Role.Slug.SECURITY_ANALYST, "window_start": "2026-02-01", "window_end": "2026-01-01"}, "Window to",
     "must end on or after"),
    ({"role": Role.Slug.SECURITY_ANALYST, "projects": "p1; drop"}, "Projects", "letters, digits"),
    ({"role": Role.Slug.SECURITY_ANALYST, "expires_on": "2020-01-01"}, "Access until", "already over"),
    ({"role": Role.Slug.SECURITY_ANALYST, "teams": "ops"}, "Teams", ""),
])
def test_an_assignment_form_with_an_error_names_the_field_and_changes_nothing(admin, people, body, field, message):
    body = dict(body, user=people["bob"].pk, role=role_pk(body["role"]))
    if body.get("teams") == "ops":
        body["teams"] = [Team.objects.get(name="ops").pk]
        message = "Only a Manager"
    before = state()

    response = admin.post("/access/assignments/create/", body)

    assert response.status_code == 400
    errors = " ".join(re.findall(r'<p class="field-error" role="alert">(.*?)</p>', response.content.decode()))
    assert f"{field}:" in errors and message in errors, errors
    assert state() == before


# --- teams ---------------------------------------------------------------------------------------


def test_a_team_name_is_unique_regardless_of_case(admin, people):
    before = state()

    response = admin.post("/access/teams/create/", {"name": "Payments"})

    assert response.status_code == 400
    assert b"Name: A team named Payments already exists." in response.content
    assert state() == before


def test_adding_a_team_member_widens_what_the_manager_sees(admin, people, log):
    payments = Team.objects.get(name="payments")

    admin.post(f"/access/teams/{payments.pk}/members/", {"user": people["carol"].pk})

    from apps.events.models import Event
    manager = get_user_model().objects.get(pk=people["manager"].pk)
    assert "carol-p2" in set(Event.objects.visible_to(manager).values_list("event_id", flat=True))


# --- tokens --------------------------------------------------------------------------------------


def test_a_token_secret_is_shown_once_and_works_for_what_its_user_sees(admin, people, log):
    response = admin.post("/access/tokens/issue/", {
        "name": "alice's notebook", "scope": "read", "user": people["regular"].pk, "expires_in": "7d",
    })

    assert response.status_code == 200
    secret = response.context["issued"].secret
    assert secret in response.content.decode()
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    listed = {e["event_id"] for e in ApiClient(secret).get("/api/v1/audit-logs").json()["audit_logs"]}
    assert listed == {"alice-p1", "alice-by-email-p2"}
    # The list page never shows it again.
    assert secret not in admin.get("/access/tokens/").content.decode()
    assert token_authenticate(secret).created_by == people["admin"]


@pytest.mark.parametrize("body, field, message", [
    ({"scope": "auditor"}, "Window from", "needs the audit period"),
    ({"scope": "ingest", "user": "alice"}, "User", "Ingest tokens write events"),
    ({"scope": "read", "expires_in": "forever"}, "Expires in", "valid choice"),
    ({"scope": "telepathy"}, "Scope", "valid choice"),
    ({"scope": "read", "name": ""}, "Name", "required"),
])
def test_a_token_form_with_an_error_names_the_field_and_issues_nothing(admin, people, body, field, message):
    body = {"name": "x", "expires_in": "7d", **body}
    if body.get("user") == "alice":
        body["user"] = people["regular"].pk
    before = state()

    response = admin.post("/access/tokens/issue/", body)

    assert response.status_code == 400
    errors = " ".join(re.findall(r'<p class="field-error" role="alert">(.*?)</p>', response.content.decode()))
    assert f"{field}:" in errors and message in errors, errors
    assert state() == before


def test_revoking_a_token_from_the_page_refuses_it_at_once(admin, people):
    from apps.rbac.tokens import token_issue
    issued = token_issue(scope="read")

    admin.post(f"/access/tokens/{issued.token.pk}/revoke/")

    assert ApiClient(issued.secret).get("/api/v1/audit-logs").status_code == 401
    assert "revoked" in admin.get("/access/tokens/").content.decode()


def test_a_token_page_shows_when_each_token_was_last_used(admin, people):
    from datetime import timedelta
    from apps.rbac.tokens import token_issue
    issued = token_issue(scope="read", name="dashboards", expires_in=timedelta(days=1))

    def row() -> str:
        html = admin.get("/access/tokens/").content.decode()
        return re.search(rf"{issued.token.prefix}….*?</tr>", html, re.S).group(0)

    assert "never" in row()
    ApiClient(issued.secret).get("/api/v1/audit-logs")
    assert "never" not in row()


# --- auditor links -------------------------------------------------------------------------------


def test_an_auditor_link_is_shown_once_and_listed_by_its_prefix(admin, people):
    response = admin.post("/access/auditor-links/create/", {
        "label": "EY", "email": "audit@ey.example", "window_start": "2026-01-01", "window_end": "2026-03-31",
        "projects": "p1", "expires_in": "30d",
    })

    assert response.status_code == 200
    url = response.context["link_url"]
    assert url.startswith("http://testserver/auditor-access/al_")
    link = AuditorLink.objects.get()
    assert link.projects == ["p1"]
    listing = admin.get("/access/auditor-links/").content.decode()
    assert link.prefix in listing and url not in listing


def test_an_auditor_link_form_with_the_period_reversed_creates_nothing(admin, people):
    before = state()

    response = admin.post("/access/auditor-links/create/", {
        "label": "EY", "window_start": "2026-03-01", "window_end": "2026-01-01", "expires_in": "30d",
    })

    assert response.status_code == 400
    assert b"Audit period to: The audit period must end on or after the day it starts." in response.content
    assert state() == before


def test_every_access_form_carries_a_csrf_token(admin, people):
    for page in ("users", "assignments", "teams", "tokens", "auditor-links"):
        html = admin.get(f"/access/{page}/").content.decode()
        forms = re.findall(r"<form method=\"post\".*?</form>", html, re.S)
        assert forms and all("csrfmiddlewaretoken" in form for form in forms), page


def test_a_change_without_a_csrf_token_is_refused(people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["admin"], backend="apps.rbac.backends.RoleBackend")

    response = client.post("/access/teams/create/", {"name": "sneaky"})

    assert response.status_code == 403
    assert not Team.objects.filter(name="sneaky").exists()


def test_access_forms_take_iso_dates_as_text_not_the_browsers_locale_picker(browser_for):
    html = browser_for("admin").get("/access/assignments/").content.decode()
    assert 'type="date"' not in html
    assert 'name="window_start"' in html and 'placeholder="YYYY-MM-DD"' in html
