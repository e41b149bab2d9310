"""Parameters that used to answer 500: each is now a 400 naming the parameter, or a 404.

The console's own audit trail is on here (`audit_trail`): several of these failed only when the
request's own audit record tried to store the value.
"""
from __future__ import annotations

import pytest

from apps.events.models import Event

pytestmark = [pytest.mark.django_db, pytest.mark.audit_trail]


@pytest.fixture
def full_log_api(db, ingest):
    from apps.rbac.tokens import token_issue
    from tests.factories import ApiClient

    ingest({"action": "auth.login", "event_id": "e1"}, {"action": "auth.logout", "event_id": "e2"})
    return ApiClient(token_issue(scope="read").secret)


@pytest.mark.parametrize("query, field", [
    ("to_seq=9007199254740993", "to_seq"),
    ("from_seq=9007199254740993", "from_seq"),
    ("to_seq=9007199254740992", "to_seq"),
    ("from_seq=9007199254740992", "from_seq"),
])
def test_verify_refuses_a_seq_beyond_what_json_carries_naming_the_parameter(full_log_api, query, field):
    response = full_log_api.get(f"/api/v1/verify?{query}")

    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field


def test_verify_still_takes_the_largest_exact_seq(full_log_api):
    response = full_log_api.get("/api/v1/verify?from_seq=1&to_seq=9007199254740991")

    assert response.status_code == 200
    assert response.json()["valid"] is True


@pytest.mark.parametrize("url, field", [
    ("/events/?q=%00", "q"),
    ("/events/?trace_id=%00", "trace_id"),
    ("/events/live/?q=%00", "q"),
    ("/events/?actor=a%00b&q=x", "actor"),
])
def test_the_viewer_refuses_a_nul_in_a_parameter_with_a_400_naming_it(browser_for, url, field):
    response = browser_for("analyst").get(url)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert "Content-Security-Policy" in response


def test_the_api_refuses_a_nul_in_a_parameter_with_a_400_naming_it(full_log_api):
    response = full_log_api.get("/api/v1/audit-logs?q=%00")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "q"


@pytest.mark.parametrize("url", [
    "/events/%00/", "/events/a%00b/verify/", "/reports/frameworks/soc2_type2/controls/%00/edit/",
])
def test_a_nul_in_a_page_path_is_not_found(browser_for, url):
    count = Event.objects.count()

    response = browser_for("admin").get(url)

    assert response.status_code == 404
    assert Event.objects.count() == count


def test_a_nul_in_an_api_path_is_a_json_404(full_log_api):
    response = full_log_api.get("/api/v1/audit-logs/%00")

    assert response.status_code == 404
    assert response.json()["errors"]
