"""The view contract: every route of the console, walked from the URL table, keeps the same promises.

In the spirit of NetBox's ViewTestCases, one parametrised module instead of a test per view:

- console pages (`requires(perm)`):
  - an anonymous visitor is sent to the sign-in page, with the page to come back to;
  - a signed-in persona whose role lacks the view's `required_permission` is refused (403 or 404)
    (the first of regular, manager, auditor, analyst, compliance, no_role who lacks it: a person
    with some role, so the refusal comes from the permission, not from having no role at all);
  - the first of analyst, compliance, admin who holds it gets the page (200) within a bounded
    number of queries (30; the dashboard, which draws a dozen panels, 40);
  - with `HX-Request: true` the page still renders (200); a view that has a partial (the list's
    results, the detail's panel, the verification, the report's status, the report preview)
    answers with the fragment alone, no `<html`;
  - a POST-only route refuses a GET with 405, and any route that takes a POST answers an empty
    form from the permitted persona without a server error;
- the HTTP API (`token_required(...)`): without a token, 401 with a JSON error and a
  `WWW-Authenticate` challenge; with a token of another scope, 403 with a JSON error; GET routes
  answer the right token 200 within a bounded number of queries; POST routes answer an empty
  JSON body without a server error;
- public routes (`public`): answered to an anonymous visitor without a detour by the sign-in page,
  never a server error (GET routes end on a 200 page).

Path parameters are filled with real objects made for each test: an event of the personas' `log`,
a saved query, a report schedule, a report (and its generated CSV file for the downloads), a
framework and a control, a user, a role assignment, a team, an API token, an auditor link and an
invitation.

Parts of the contract left out, and why:
- `events:live_stream` (GET /events/live/stream/) is an endless server-sent-event stream: the
  test client would read it forever, so the permitted 200, the htmx and the query-count parts do
  not apply; it is opened against a real ASGI server in tests/search/test_live.py,
  tests/browser/test_live.py and tests/test_database_pool.py. Anonymous and refused parts apply.
- `reports:download` and `api:report-file` are file downloads: no htmx part (an attachment has no
  partial); the rest applies, the 200 being the attachment.
- The API's part "a persona lacking the permission" is the token of another scope (a token has a
  scope, not a role); that report routes refuse a token whose user may not make reports is
  tested in tests/reports/test_reports.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from apps.rbac.auditor_links import auditor_link_create
from apps.rbac.models import ApiToken, RoleAssignment, Team
from apps.rbac.roles import ROLE_BY_SLUG
from apps.rbac.tokens import token_issue
from apps.rbac.users import invite_path_for
from apps.reports.frameworks_data import framework_get, frameworks_ensure
from apps.reports.generation import report_generate
from apps.reports.models import Report, Schedule
from apps.viewer.models import SavedQuery
from apps.alerts.models import Alert, Channel, Silence
from apps.alerts.rules import rule_save
from apps.events.models import Event
from apps.exports.models import ExportJob, ExportTemplate
from apps.outbound.models import OutboxMessage
from apps.streams.models import Destination
from tests.factories import ApiClient
from tests.personas import JANUARY, ROLE_OF, actor_for

PERMITTED_FIRST = ("analyst", "compliance", "admin")
LACKING_FIRST = ("regular", "manager", "auditor", "analyst", "compliance", "no_role")

POST_ONLY = {
    "logout", "access:user_create", "access:user_deactivate", "access:user_reactivate", "access:assignment_create",
    "access:assignment_remove", "access:team_create", "access:team_member_add", "access:team_member_remove",
    "access:token_issue", "access:token_revoke", "access:auditor_link_create", "access:auditor_link_revoke",
    "events:saved_delete", "reports:schedule_delete", "reports:framework_reset",
    "api:events", "api:audit-logs-search", "api:audit-logs-export", "api:report-create", "api:import",
    "importers:preview", "importers:confirm", "exports:template_delete",
    "streams:test", "streams:pause", "streams:replay", "streams:dead_replay", "streams:delete",
    "alerts:acknowledge", "alerts:resolve", "alerts:rule_delete", "alerts:silence_new", "alerts:silence_end",
    "alerts:channel_delete", "alerts:delivery_replay", "alerts:channel_test",
    "retention:policy_delete", "retention:hold_release", "retention:lock", "retention:unlock", "retention:run",
    "retention:restore", "retention-unlock",
}
# Pages that are also forms: they take a POST beside their GET.
FORMS = {"login", "invite", "auditor_sign_in", "events:saved_new", "events:saved_edit", "events:preferences",
         "reports:index", "reports:schedule_new", "reports:schedule_edit", "reports:control_edit",
         "exports:new", "exports:template_new", "exports:template_edit", "streams:new", "streams:edit",
         "alerts:rule_new", "alerts:rule_edit", "alerts:sigma_import", "alerts:channel_new", "alerts:channel_edit",
         "retention:policy_new", "retention:policy_edit", "retention:hold_new"}
STREAMS = {"events:live_stream"}
DOWNLOADS = {"reports:download", "api:report-file", "exports:download"}
# route → the headers that ask for its partial (a view without one renders its page for htmx too).
PARTIALS = {
    "events:list": {"HX-Request": "true", "HX-Target": "results"},
    "events:detail": {"HX-Request": "true", "HX-Target": "panel"},
    "events:verify": {"HX-Request": "true"},
    "reports:detail": {"HX-Request": "true"},
    "reports:preview": {"HX-Request": "true"},
    "exports:job": {"HX-Request": "true"},
    "streams:preview": {"HX-Request": "true"},
    "events:examples": {"HX-Request": "true"},
}
# route → the route it sends the permitted persona on to.
REDIRECTS = {"access:overview": "access:users"}
QUERY_PARAMS = {
    "reports:preview": {"report_type": "compliance_audit", "framework": "soc2_type2", "period": "custom",
                        "start": "2026-01-01", "end": "2026-01-31", "format": "pdf"},
}
MAX_QUERIES = 30
MAX_QUERIES_FOR = {"home": 40}


def _walk(resolver, prefix="", namespace=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern) and not str(entry.pattern).startswith("static/"):
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, "/" + prefix + str(entry.pattern), entry.callback.required_permission


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    permission: str   # the view's required_permission: a permission, "public" or "token:<scopes>"

    @property
    def method(self) -> str:
        return "POST" if self.name in POST_ONLY else "GET"

    @property
    def kind(self) -> str:
        if self.permission == "public":
            return "public"
        return "api" if self.permission.startswith("token:") else "page"

    @property
    def scopes(self) -> list[str]:
        return self.permission.removeprefix("token:").split(",")

    @property
    def permitted(self) -> str:
        return next(p for p in PERMITTED_FIRST if self.permission in _permissions(p))

    @property
    def lacking(self) -> str:
        return next(p for p in LACKING_FIRST if self.permission not in _permissions(p))

    @property
    def max_queries(self) -> int:
        return MAX_QUERIES_FOR.get(self.name, MAX_QUERIES)

    def __str__(self) -> str:
        return f"{self.method} {self.pattern}"


def _permissions(persona: str) -> tuple[str, ...]:
    slug = ROLE_OF[persona]   # the personas' roles are known before the database exists
    return ROLE_BY_SLUG[slug].permissions if slug else ()


ROUTES = [Route(*entry) for entry in _walk(get_resolver())]
PAGES = [r for r in ROUTES if r.kind == "page"]
APIS = [r for r in ROUTES if r.kind == "api"]
PUBLIC = [r for r in ROUTES if r.kind == "public"]


def _ids(routes, say):
    return pytest.mark.parametrize("route", routes, ids=[say(r) for r in routes])


class World:
    """The objects the routes' path parameters name, made when a route first needs them."""

    def __init__(self, people, settings, tmp_path):
        self.people, self.settings, self.tmp_path = people, settings, tmp_path

    @cached_property
    def saved_query(self):
        return SavedQuery.objects.create(owner=self.people["analyst"], name="Failed sign-ins", slug="failed",
                                         querystring="action=auth.login&outcome=failure")

    @cached_property
    def schedule(self):
        return Schedule.objects.create(name="Daily access review", owner=self.people["compliance"],
                                       report_type="access_audit", format="pdf", recipients=["ciso@example.com"],
                                       next_run_at=timezone.now() + timedelta(days=1))

    @cached_property
    def read_token(self):
        """cora's read token: report routes need someone who may make reports; she sees every event."""
        return token_issue(scope=ApiToken.Scope.READ, user=self.people["compliance"], name="cora's script")

    @cached_property
    def report(self):
        """A report cora asked for through her token (the API shows a token the reports it asked for)."""
        return Report.objects.create(report_type="compliance_audit", framework=framework_get("soc2_type2"),
                                     period_start=JANUARY[0], period_end=JANUARY[1], format="pdf",
                                     requested_by=self.people["compliance"], token=self.read_token.token)

    @cached_property
    def generated_report(self):
        self.settings.REPORTS_ROOT = self.tmp_path
        report = Report.objects.create(report_type="access_audit", period_start=JANUARY[0], period_end=JANUARY[1],
                                       requested_by=self.people["compliance"], token=self.read_token.token,
                                       format="csv")
        report = report_generate(report.pk)
        assert report.status == Report.Status.DONE, report.error
        return report

    @cached_property
    def token(self) -> ApiToken:
        return token_issue(scope="read", user=self.people["regular"], name="alice's script").token

    @cached_property
    def auditor_link(self):
        return auditor_link_create(actor=actor_for(self.people["admin"]), label="KPMG SOC 2",
                                   window_start=JANUARY[0], window_end=JANUARY[1],
                                   expires_at=timezone.now() + timedelta(days=7))

    @cached_property
    def export_template(self):
        return ExportTemplate.objects.create(name="Actions", owner=self.people["analyst"], source="{{ event.action }}")

    @cached_property
    def export_job(self):
        """A finished export of sam's, its file in the test's folder."""
        path = self.tmp_path / "export.csv"
        path.write_text("seq,action\n")
        return ExportJob.objects.create(requested_by=self.people["analyst"], format="csv", status=ExportJob.Status.DONE,
                                        filename="export.csv", path=str(path), size=path.stat().st_size,
                                        expires_at=timezone.now() + timedelta(hours=1))

    @cached_property
    def destination(self):
        return Destination.objects.create(name="SIEM webhook", kind="webhook", format="jsonl", query="",
                                          config={"url": "http://127.0.0.1:9/hook"}, owner=self.people["admin"])

    @cached_property
    def alert_rule(self):
        return rule_save(values={"name": "Any denied call", "kind": "match", "severity": "medium",
                                 "condition": "outcome:denied", "enabled": True}, owner=self.people["admin"])

    @cached_property
    def alert(self):
        """An open alert of that rule, last updated by alice's event (which the analyst sees)."""
        event = Event.objects.get(event_id="alice-p1")
        return Alert.objects.create(rule=self.alert_rule, dedup_key=f"{self.alert_rule.pk}:alice", title="Denied",
                                    group={"actor": "alice"}, severity="medium", first_seq=event.seq,
                                    last_seq=event.seq, first_event_at=event.occurred_at,
                                    last_event_at=event.occurred_at, count=1)

    @cached_property
    def silence(self):
        return Silence.objects.create(rule=self.alert_rule, comment="maintenance", created_by="ada",
                                      ends_at=timezone.now() + timedelta(hours=1))

    @cached_property
    def channel(self):
        return Channel.objects.create(name="SOC webhook", kind="webhook", url="http://127.0.0.1:9/hook")

    @cached_property
    def delivery(self):
        return OutboxMessage.objects.create(kind="alerts.channel", target=str(self.channel.pk), payload={},
                                            state=OutboxMessage.State.FAILED, next_attempt_at=timezone.now())

    @cached_property
    def retention_policy(self):
        from apps.retention.models import RetentionPolicy

        return RetentionPolicy.objects.create(name="Deletes", event_types=["resource.delete"])

    @cached_property
    def legal_hold(self):
        from apps.retention.models import LegalHold

        return LegalHold.objects.create(name="Case 42", query="actor:mallory", reason="litigation", owner="legal")

    @cached_property
    def segment(self):
        from apps.retention.models import Segment

        return Segment.objects.create(policy=self.retention_policy, first_seq=1, last_seq=1, file_name="x.parquet")

    def kwargs(self, name: str) -> dict:
        bob, payments = self.people["bob"], Team.objects.get(name="payments")
        fill = {
            "invite": lambda: resolve(invite_path_for(self.people["no_role"])).kwargs,
            "auditor_sign_in": lambda: {"secret": self.auditor_link.secret},
            "access:user_deactivate": lambda: {"pk": bob.pk},
            "access:user_reactivate": lambda: {"pk": bob.pk},
            "access:assignment_remove": lambda: {"pk": RoleAssignment.objects.get(user=bob).pk},
            "access:team_member_add": lambda: {"pk": payments.pk},
            "access:team_member_remove": lambda: {"pk": payments.pk, "user_pk": bob.pk},
            "access:token_revoke": lambda: {"pk": self.token.pk},
            "access:auditor_link_revoke": lambda: {"pk": self.auditor_link.link.pk},
            "events:saved_edit": lambda: {"pk": self.saved_query.pk},
            "events:saved_delete": lambda: {"pk": self.saved_query.pk},
            "events:verify": lambda: {"event_id": "alice-p1"},
            "events:detail": lambda: {"event_id": "alice-p1"},
            "reports:schedule_edit": lambda: {"pk": self.schedule.pk},
            "reports:schedule_delete": lambda: {"pk": self.schedule.pk},
            "reports:framework": lambda: {"key": "soc2_type2"},
            "reports:framework_reset": lambda: {"key": "soc2_type2"},
            "reports:control_edit": lambda: {"key": "soc2_type2", "ref": "CC7.2"},
            "reports:detail": lambda: {"pk": self.report.pk},
            "reports:download": lambda: {"pk": self.generated_report.pk, "kind": "report"},
            "api:audit-log": lambda: {"event_id": "alice-p1"},
            "api:report-status": lambda: {"pk": self.report.pk},
            "api:report-file": lambda: {"pk": self.generated_report.pk, "kind": "report"},
            "api:import": lambda: {"format": "cloudtrail"},
            "exports:template_edit": lambda: {"pk": self.export_template.pk},
            "exports:template_delete": lambda: {"pk": self.export_template.pk},
            "exports:job": lambda: {"pk": self.export_job.pk},
            "exports:download": lambda: {"pk": self.export_job.pk},
            "streams:new": lambda: {"kind": "webhook"},
            **{f"alerts:{name}": (lambda: {"pk": self.alert.pk}) for name in ("detail", "acknowledge", "resolve")},
            **{f"alerts:{name}": (lambda: {"pk": self.alert_rule.pk})
               for name in ("rule_detail", "rule_edit", "rule_delete")},
            "alerts:silence_end": lambda: {"pk": self.silence.pk},
            **{f"alerts:{name}": (lambda: {"pk": self.channel.pk})
               for name in ("channel_edit", "channel_delete", "channel_test")},
            "alerts:delivery_replay": lambda: {"pk": self.delivery.pk},
            **{f"streams:{name}": (lambda: {"pk": self.destination.pk})
               for name in ("detail", "edit", "preview", "test", "pause", "replay", "dead_replay", "delete")},
            "retention:policy_edit": lambda: {"pk": self.retention_policy.pk},
            "retention:policy_delete": lambda: {"pk": self.retention_policy.pk},
            "retention:hold_release": lambda: {"pk": self.legal_hold.pk},
            "retention:restore": lambda: {"pk": self.segment.pk},
            "retention-policy": lambda: {"pk": self.retention_policy.pk},
        }
        return fill[name]() if name in fill else {}

    def url(self, route: Route) -> str:
        return reverse(route.name, kwargs=self.kwargs(route.name))


@pytest.fixture
def world(people, log, settings, tmp_path) -> World:
    # The built-in frameworks are installed by the first request that needs them, once per
    # database; installed here, so that the pages' query counts are those of every later request.
    frameworks_ensure()
    return World(people, settings, tmp_path)


def call(client, route: Route, url: str, **extra):
    params = QUERY_PARAMS.get(route.name, {})
    return client.post(url, **extra) if route.method == "POST" else client.get(url, params, **extra)


# --- the table itself ----------------------------------------------------------------------------


def test_every_route_of_the_console_is_walked_by_the_contract():
    names = {route.name for route in ROUTES}
    assert len(names) == len(ROUTES), "two routes share a name"
    listed = (POST_ONLY | FORMS | STREAMS | DOWNLOADS | set(PARTIALS) | set(REDIRECTS) | set(QUERY_PARAMS)
              | set(MAX_QUERIES_FOR))
    assert listed <= names, f"the contract names routes that no longer exist: {listed - names}"
    assert {r.kind for r in ROUTES} == {"page", "api", "public"}
    # Every page route has a persona to be refused and one to be let in.
    assert all(r.permitted and r.lacking for r in PAGES)


def test_the_personas_picked_for_each_page_hold_or_lack_its_permission_as_the_contract_assumes(people):
    for route in PAGES:
        assert people[route.permitted].has_perm(route.permission), (str(route), route.permitted)
        assert not people[route.lacking].has_perm(route.permission), (str(route), route.lacking)


# --- console pages -------------------------------------------------------------------------------


@_ids(PAGES, lambda r: f"{r} sends an anonymous visitor to sign in")
def test_an_anonymous_visitor_is_sent_to_the_sign_in_page(route, world):
    url = world.url(route)
    response = call(Client(), route, url)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert resolve(response["Location"].split("?")[0]).url_name == "login"


@_ids(PAGES, lambda r: f"{r} refuses {r.lacking}, who lacks {r.permission}")
def test_a_persona_whose_role_lacks_the_permission_is_refused(route, world, browser_for):
    response = call(browser_for(route.lacking), route, world.url(route))

    assert response.status_code in (403, 404)


@_ids([r for r in PAGES if r.method == "GET" and r.name not in STREAMS],
      lambda r: f"{r} is shown to {r.permitted} within {r.max_queries} queries")
def test_the_permitted_persona_gets_the_page_within_a_bounded_number_of_queries(
        route, world, browser_for, django_assert_max_num_queries):
    client, url = browser_for(route.permitted), world.url(route)

    with django_assert_max_num_queries(route.max_queries):
        response = call(client, route, url)

    if route.name in REDIRECTS:
        assert response.status_code == 302 and response["Location"] == reverse(REDIRECTS[route.name])
        response = client.get(response["Location"])
    assert response.status_code == 200, response.content[:500]
    if route.name in DOWNLOADS:
        assert response["Content-Disposition"].startswith("attachment")
    else:
        assert response["Content-Type"].startswith("text/html")


@_ids([r for r in PAGES if r.method == "GET" and r.name not in STREAMS | DOWNLOADS],
      lambda r: f"{r} renders for htmx" + (" as a fragment" if r.name in PARTIALS else ""))
def test_an_htmx_request_renders_the_partial_or_the_page(route, world, browser_for):
    headers = PARTIALS.get(route.name, {"HX-Request": "true"})
    client = browser_for(route.permitted)
    response = call(client, route, world.url(route), headers=headers)
    if route.name in REDIRECTS:
        response = client.get(response["Location"], headers=headers)

    assert response.status_code == 200
    body = response.content.decode()
    if route.name in PARTIALS:
        assert "<html" not in body
        assert body.strip()
    else:
        assert "<html" in body


@_ids([r for r in PAGES + PUBLIC if r.method == "POST"], lambda r: f"GET {r.pattern} is refused with 405")
def test_a_post_only_route_refuses_a_get(route, world, browser_for):
    client = browser_for(route.permitted) if route.kind == "page" else Client()

    assert client.get(world.url(route)).status_code == 405


@_ids([r for r in PAGES if r.method == "POST" or r.name in FORMS],
      lambda r: f"POST {r.pattern} with an empty form from {r.permitted} is no server error")
def test_an_empty_form_posted_by_the_permitted_persona_is_never_a_server_error(route, world, browser_for):
    response = browser_for(route.permitted).post(world.url(route), {})

    assert response.status_code < 500, response.content[:500]


# --- the HTTP API --------------------------------------------------------------------------------


@_ids(APIS, lambda r: f"{r} without a token is refused 401 in JSON")
def test_an_api_call_without_a_token_is_refused_401_in_json(route, world):
    response = call(ApiClient(None).client, route, world.url(route))

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@_ids(APIS, lambda r: f"{r} with a token of another scope than {' or '.join(r.scopes)} is refused 403 in JSON")
def test_an_api_token_of_another_scope_is_refused_403_in_json(route, world):
    other = next(scope for scope in ApiToken.Scope.values if scope not in route.scopes)
    response = call(Client(), route, world.url(route), headers={"Authorization": f"Bearer {_secret(other, world)}"})

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]


def _secret(scope: str, world: World) -> str:
    if scope == ApiToken.Scope.READ:
        return world.read_token.secret
    limits = {"window_start": JANUARY[0], "window_end": JANUARY[1]} if scope == ApiToken.Scope.AUDITOR else {}
    return token_issue(scope=scope, **limits).secret


@_ids([r for r in APIS if r.method == "GET"], lambda r: f"{r} answers its token 200 within {r.max_queries} queries")
def test_an_api_read_answers_200_within_a_bounded_number_of_queries(route, world, django_assert_max_num_queries):
    url = world.url(route)
    api = ApiClient(_secret(route.scopes[0], world))

    with django_assert_max_num_queries(route.max_queries):
        response = api.get(url)

    assert response.status_code == 200, response.content[:500]


@_ids([r for r in APIS if r.method == "POST"], lambda r: f"{r} with an empty JSON body is no server error")
def test_an_api_post_with_an_empty_body_is_never_a_server_error(route, world):
    response = ApiClient(_secret(route.scopes[0], world)).post(world.url(route), {})

    assert 400 <= response.status_code < 500 or response.status_code in (200, 202), response.content[:500]
    assert response["Content-Type"].startswith(("application/json", "application/x-ndjson", "text/csv"))


# --- public routes ------------------------------------------------------------------------------


@_ids(PUBLIC, lambda r: f"{r} is answered to an anonymous visitor without signing in")
def test_a_public_route_is_answered_to_an_anonymous_visitor_without_signing_in(route, world):
    client = Client()
    response = call(client, route, world.url(route))

    assert response.status_code < 500
    location = response.get("Location", "")
    assert "?next=" not in location
    if route.method == "GET":
        if response.status_code == 302:
            response = client.get(location)
        assert response.status_code == 200

