"""Reports: each framework's figures against counts taken independently, the PDF's text, escaping,
who may make reports (pages and API), bad input, and a schedule that fires in the worker.
"""
from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings

from apps.events.ingest import event_ingest
from apps.events.models import Event
from apps.events.query import parse_query
from apps.rbac.tokens import token_issue
from apps.reports.frameworks_data import builtin_frameworks, framework_get
from apps.reports.generation import report_generate, reports_root
from apps.reports.models import Report, Schedule
from tests.factories import ApiClient
from tests.logbook import event
from tests.personas import personas_create

START = datetime(2025, 3, 1, tzinfo=dt_timezone.utc)
END = datetime(2025, 3, 8, tzinfo=dt_timezone.utc)
HOSTILE = '<b>bold</b> <script>alert("x")</script> & =SUM(A1:A9) \u202eevil'

LOG = [
    event("r-before", "auth.login", "2025-02-28T23:59:59Z", status="failed", actor={"id": "mallory"}),
    event("r-1", "auth.login", "2025-03-01T00:00:00Z", actor={"id": "alice", "email": "alice@example.com"},
          ip_address="203.0.113.5"),
    event("r-2", "auth.login", "2025-03-01T08:00:00Z", status="failed", actor={"id": "mallory"},
          ip_address="198.51.100.9", description=HOSTILE),
    event("r-3", "auth.login", "2025-03-01T08:00:05Z", status="failed", actor={"id": "mallory"},
          ip_address="198.51.100.9"),
    event("r-4", "auth.login", "2025-03-01T08:00:09Z", status="failed", actor={"id": "mallory"},
          ip_address="198.51.100.9"),
    event("r-5", "auth.mfa.verify", "2025-03-01T08:01:00Z", actor={"id": "alice", "email": "alice@example.com"}),
    event("r-6", "iam.user.create", "2025-03-02T10:00:00Z", actor={"id": "ada", "name": "Ada Admin"},
          resource={"type": "user", "id": "usr_new"}, severity="medium"),
    event("r-7", "iam.role.update", "2025-03-02T11:00:00Z", actor={"id": "ada", "name": "Ada Admin"},
          resource={"type": "role_assignment", "id": "ra-1"}, severity="high",
          changes={"before": {"role": "viewer"}, "after": {"role": "admin"}}),
    event("r-8", "config.settings.update", "2025-03-03T09:00:00Z", actor={"id": "bob", "name": HOSTILE},
          resource={"type": "settings", "id": "settings/prod"}, severity="medium",
          changes={"before": {"mfa": True}, "after": {"mfa": False}}),
    event("r-9", "data.export", "2025-03-04T12:00:00Z", status="denied", severity="high", actor={"id": "bob"},
          resource={"type": "dataset", "id": "payments"}),
    event("r-10", "security.finding.create", "2025-03-05T13:00:00Z", severity="critical",
          actor={"type": "service", "id": "scanner"}, resource={"type": "bucket", "id": "bkt-1"}),
    event("r-11", "firewall.rule.update", "2025-03-06T14:00:00Z", actor={"id": "bob"}, severity="critical",
          resource={"type": "firewall_rule", "id": "fw-1"},
          changes={"before": {"cidr": "10.0.0.0/8"}, "after": {"cidr": "0.0.0.0/0"}}),
    event("r-12", "compute.servers.delete", "2025-03-07T23:59:59Z", actor={"id": "alice"},
          resource={"type": "server", "id": "srv-1"}),
    event("r-after", "auth.login", "2025-03-08T00:00:00Z", status="failed", actor={"id": "mallory"}),
]
IN_PERIOD = [e for e in LOG if e["event_id"] not in ("r-before", "r-after")]


@pytest.fixture(scope="module")
def made(django_db_setup, django_db_blocker, tmp_path_factory):
    """The log stored once, and one JSON and one PDF report per framework, made as the worker does."""
    folder = tmp_path_factory.mktemp("reports")
    with django_db_blocker.unblock(), override_settings(REPORTS_ROOT=folder):
        with transaction.atomic():
            officer = personas_create()["compliance"]
            event_ingest(LOG)
            reports = {}
            for data in builtin_frameworks():
                report = Report.objects.create(report_type="compliance_audit", framework=framework_get(data["key"]),
                                               period_start=START, period_end=END, requested_by=officer, format="json")
                reports[data["key"]] = report_generate(report.pk)
            for kind in ("access_audit", "change_audit", "security_audit"):
                report = Report.objects.create(report_type=kind, period_start=START, period_end=END,
                                               requested_by=officer, format="csv")
                reports[kind] = report_generate(report.pk)
            pdf = Report.objects.create(report_type="compliance_audit", framework=framework_get("soc2_type2"),
                                        period_start=START, period_end=END, requested_by=officer, format="pdf")
            reports["pdf"] = report_generate(pdf.pk)
            custom = Report.objects.create(report_type="custom", grouping="user", query="category:auth",
                                           metrics=["event_count", "unique_users"], period_start=START,
                                           period_end=END, requested_by=officer, format="json")
            reports["custom"] = report_generate(custom.pk)
            person = Report.objects.create(report_type="user_activity", subject="bob", period_start=START,
                                           period_end=END, requested_by=officer, format="json")
            reports["person"] = report_generate(person.pk)
            counts = {}
            for data in builtin_frameworks():
                for control in data["controls"]:
                    for n, item in enumerate(control["evidence"]):
                        counts[(data["key"], control["ref"], n)] = Event.objects.filter(
                            occurred_at__gte=START, occurred_at__lt=END).filter(parse_query(item["query"], now=END)).count()
            paths = {key: {f.kind: reports_root() / f.path for f in r.files.all()} for key, r in reports.items()}
            yield {"reports": reports, "counts": counts, "paths": paths}
            transaction.set_rollback(True)


def _text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("key", [d["key"] for d in builtin_frameworks()])
def test_every_frameworks_report_counts_each_controls_evidence_as_a_plain_count_of_the_events_does(made, key):
    report = made["reports"][key]
    assert report.status == Report.Status.DONE, report.error
    controls = report.figures["controls"]
    assert [c["ref"] for c in controls] == [c["ref"] for c in next(
        d for d in builtin_frameworks() if d["key"] == key)["controls"]]
    for control in controls:
        for n, evidence in enumerate(control["evidence"]):
            assert evidence["figures"]["events"] == made["counts"][(key, control["ref"], n)], (control["ref"], evidence["title"])
        assert control["events"] == sum(e["figures"]["events"] for e in control["evidence"])


def test_the_summary_counts_the_periods_events_their_actors_and_outcomes_as_counted_by_hand(made):
    summary = made["reports"]["soc2_type2"].figures["summary"]["figures"]
    assert summary["events"] == len(IN_PERIOD) == 12
    assert summary["unique_actors"] == len({e["actor"]["id"] for e in IN_PERIOD}) == 5
    assert summary["by_outcome"]["failure"] == 3
    assert summary["by_outcome"]["denied"] == 1
    assert summary["by_severity"]["critical"] == 2
    assert [list(pair) for pair in summary["top_actors"]] == [["alice", 3], ["bob", 3], ["mallory", 3], ["ada", 2],
                                                             ["scanner", 1]]  # ties by name
    assert sum(count for _, count in summary["series"]) == 12
    assert len(summary["series"]) == 7  # one bar per day of the week


def test_soc2_failed_sign_ins_and_refusals_are_the_ones_in_the_log(made):
    controls = {c["ref"]: c for c in made["reports"]["soc2_type2"].figures["controls"]}
    failed = next(e for e in controls["CC7.2"]["evidence"] if e["title"] == "Failed sign-ins")
    assert failed["figures"]["events"] == 3  # r-before and r-after fall outside the period
    assert failed["figures"]["top_actors"] in ([["mallory", 3]], [("mallory", 3)])
    refused = next(e for e in controls["CC6.1"]["evidence"] if e["title"] == "Refused access")
    assert [row["event_id"] for row in refused["events"]] == ["r-9"]


def test_each_figure_links_to_the_viewer_with_the_same_query_and_period(made):
    evidence = made["reports"]["soc2_type2"].figures["controls"][0]["evidence"][0]
    assert "start_date=2025-03-01T00%3A00%3A00Z" in evidence["viewer_url"]
    assert "end_date=2025-03-07T23%3A59%3A59Z" in evidence["viewer_url"]
    officer = get_user_model().objects.get(username="cora")   # the Compliance Officer persona, stored by `made`
    client = Client()
    client.force_login(officer, backend="apps.rbac.backends.RoleBackend")
    response = client.get(evidence["viewer_url"])
    assert response.status_code == 200
    assert response.context["page"].total == evidence["figures"]["events"] == 4  # r-1 to r-4


def test_the_pdf_holds_the_controls_their_figures_and_the_chain_verification(made):
    text = _text(made["paths"]["pdf"]["report"])
    for ref in ("CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC7.3", "CC8.1"):
        assert ref in text
    assert "SOC 2 Type II" in text
    assert "Chain verified" in text
    assert "Contents" in text and "Page 1 of" in text
    assert "2025-03-01 00:00:00 UTC to 2025-03-08 00:00:00 UTC" in text
    assert "cora" in text  # who generated it


def test_attacker_controlled_text_appears_in_the_pdf_as_text(made):
    text = _text(made["paths"]["pdf"]["report"])
    assert '<script>alert("x")</script>' in text
    assert "<b>bold</b>" in text


def test_pdf_pages_render_to_images(made, tmp_path):
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm is not installed")
    subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", "3", str(made["paths"]["pdf"]["report"]),
                    str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) == 3


def test_the_csv_figures_neutralise_formulas_and_match_the_json(made):
    text = made["paths"]["security_audit"]["report"].read_text()
    assert text.splitlines()[0] == "scope,item,metric,key,value"
    assert "=SUM" not in text.replace("'=SUM", "")
    figures = made["reports"]["security_audit"].figures
    incidents = next(s for s in figures["sections"] if s["key"] == "security_incidents")
    assert f"section,security_incidents,events,,{incidents['figures']['events']}" in text


def test_the_change_audit_shows_before_and_after(made):
    figures = made["reports"]["change_audit"].figures
    config = next(s for s in figures["sections"] if s["key"] == "configuration_changes")
    changed = next(row for row in config["events"] if row["event_id"] == "r-11")
    assert {"path": "cidr", "before": "10.0.0.0/8", "after": "0.0.0.0/0", "kind": "changed"} in changed["changes"]


def test_a_custom_report_groups_by_user_with_its_metrics(made):
    groups = made["reports"]["custom"].figures["groups"]
    rows = {row["key"]: row for row in groups["rows"]}
    assert rows["mallory"]["event_count"] == 3
    assert rows["alice"]["event_count"] == 2
    assert groups["groups"] == 2


def test_a_user_activity_report_holds_only_that_persons_events(made):
    figures = made["reports"]["person"].figures
    assert figures["summary"]["figures"]["events"] == 3
    assert {row["actor_id"] for row in figures["summary"]["events"]} == {"bob"}


# --- who may make reports -------------------------------------------------------------------------


def test_a_compliance_officer_asks_for_a_report_from_the_form_and_it_is_queued(people, browser_for):
    client = browser_for("compliance")
    assert client.get("/reports/").status_code == 200
    response = client.post("/reports/", {"report_type": "compliance_audit", "framework": "hipaa", "period": "custom",
                                         "start": "2025-03-01", "end": "2025-03-07", "format": "pdf"})
    report = Report.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reports/{report.pk}/"
    assert (report.period_start, report.period_end) == (START, END)
    assert report.status == Report.Status.QUEUED


def test_a_regular_user_is_refused_the_reports_pages_and_nothing_is_stored(people, browser_for):
    client = browser_for("regular")
    assert client.get("/reports/").status_code == 403
    assert client.post("/reports/", {"report_type": "access_audit", "period": "last_7d", "format": "pdf"}).status_code == 403
    assert client.get("/reports/schedules/").status_code == 403
    assert Report.objects.count() == 0


def test_a_bad_form_names_the_field_and_stores_nothing(people, browser_for):
    client = browser_for("compliance")
    response = client.post("/reports/", {"report_type": "compliance_audit", "period": "custom", "start": "2025-03-09",
                                         "end": "2025-03-01", "format": "pdf", "query": "action:(("})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "framework" in errors and "end" in errors and "query" in errors
    assert Report.objects.count() == 0


def test_an_officer_without_the_evidence_permission_may_not_ask_for_a_pack(browser_for):
    assert browser_for("analyst").get("/reports/").status_code == 403


def test_another_officers_report_is_not_found_for_a_regular_user(people, browser_for):
    report = Report.objects.create(report_type="access_audit", period_start=START, period_end=END,
                                   requested_by=people["compliance"], format="pdf")
    assert browser_for("regular").get(f"/reports/{report.pk}/").status_code == 403


# --- the API -----------------------------------------------------------------------------------


SEED_004_BODY = {
    "report_type": "compliance_audit", "compliance_framework": "soc2_type2",
    "date_range": {"start_date": "2025-03-01T00:00:00Z", "end_date": "2025-03-07T23:59:59Z"},
    "include_sections": ["authentication_events", "authorization_events", "configuration_changes", "security_incidents"],
    "format": "pdf", "include_evidence": True,
}


def test_the_api_takes_seed_004s_body_and_answers_202_with_an_id_and_status(people, tmp_path):
    api = ApiClient(token_issue(scope="read", user=people["compliance"]).secret)
    response = api.post("/api/v1/reports", SEED_004_BODY)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["id"]
    report = Report.objects.get(pk=body["id"])
    assert report.include_evidence and report.sections == SEED_004_BODY["include_sections"]
    assert report.period_end == datetime(2025, 3, 8, tzinfo=dt_timezone.utc)
    with override_settings(REPORTS_ROOT=tmp_path, AUDIT_TRAIL_ENABLED=False):
        report_generate(report.pk)
        status = api.get(f"/api/v1/reports/{report.pk}").json()
        assert status["status"] == "done", status
        assert status["download_url"] == f"/api/v1/reports/{report.pk}/report"
        assert status["evidence_url"] == f"/api/v1/reports/{report.pk}/evidence"
        download = api.get(status["download_url"])
        assert download.status_code == 200
        assert b"".join(download.streaming_content).startswith(b"%PDF")


def test_a_regular_users_token_is_refused_reports(people):
    api = ApiClient(token_issue(scope="read", user=people["regular"]).secret)
    assert api.post("/api/v1/reports", SEED_004_BODY).status_code == 403
    assert Report.objects.count() == 0


def test_a_token_without_a_user_is_refused_reports(db):
    api = ApiClient(token_issue(scope="read").secret)
    response = api.post("/api/v1/reports", SEED_004_BODY)
    assert response.status_code == 403
    assert "--user" in response.json()["error"]


@pytest.mark.parametrize("change, field", [
    ({"compliance_framework": "sox"}, "compliance_framework"),
    ({"date_range": {"start_date": "2025-03-01", "end_date": "yesterdayish"}}, "date_range.end_date"),
    ({"date_range": {"start_date": "2025-03-09", "end_date": "2025-03-01"}}, "date_range.end_date"),
    ({"format": "docx"}, "format"),
    ({"include_evidence": "yes"}, "include_evidence"),
    ({"include_sections": ["everything"]}, "include_sections"),
    ({"colour": "red"}, "colour"),
    ({"report_type": "gossip"}, "report_type"),
])
def test_bad_api_input_is_answered_400_naming_the_field_and_nothing_is_stored(people, change, field):
    api = ApiClient(token_issue(scope="read", user=people["compliance"]).secret)
    response = api.post("/api/v1/reports", {**SEED_004_BODY, **change})
    assert response.status_code == 400, response.content
    assert field in [e["field"] for e in response.json()["errors"]]
    assert Report.objects.count() == 0


@pytest.mark.audit_trail
def test_asking_for_making_and_downloading_a_report_are_written_into_the_log(people, tmp_path, browser_for):
    client = browser_for("compliance")
    client.post("/reports/", {"report_type": "access_audit", "period": "custom", "start": "2025-03-01",
                              "end": "2025-03-07", "format": "csv"})
    report = Report.objects.get()
    with override_settings(REPORTS_ROOT=tmp_path):
        report_generate(report.pk)
        assert client.get(f"/reports/{report.pk}/download/report/").status_code == 200
    actions = list(Event.objects.filter(category="audit", resource_id=str(report.pk)).values_list("action", "actor_id"))
    assert ("audit.report.request", "cora") in actions
    assert ("audit.report.generate", "cora") in actions
    assert ("audit.report.download", "cora") in actions


def test_a_file_changed_on_disk_is_not_served(people, tmp_path, browser_for):
    report = Report.objects.create(report_type="access_audit", period_start=START, period_end=END,
                                   requested_by=people["compliance"], format="csv")
    with override_settings(REPORTS_ROOT=tmp_path):
        report_generate(report.pk)
        path = tmp_path / report.files.get().path
        path.write_text(path.read_text() + "forged,row\n")
        assert browser_for("compliance").get(f"/reports/{report.pk}/download/report/").status_code == 404


def test_a_failed_report_shows_its_reason(people, tmp_path, browser_for):
    report = Report.objects.create(report_type="compliance_audit", period_start=START, period_end=END,
                                   requested_by=people["compliance"], format="pdf")
    with override_settings(REPORTS_ROOT=tmp_path):
        report = report_generate(report.pk)
    assert report.status == Report.Status.FAILED
    assert "needs a framework" in report.error
    page = browser_for("compliance").get(f"/reports/{report.pk}/")
    assert b"needs a framework" in page.content


# --- frameworks are editable by administrators ---------------------------------------------------


@pytest.mark.audit_trail
def test_an_administrator_edits_a_controls_evidence_and_the_change_is_recorded(browser_for):
    client = browser_for("admin")
    url = "/reports/frameworks/soc2_type2/controls/CC7.2/edit/"
    form = {"evidence-TOTAL_FORMS": "1", "evidence-INITIAL_FORMS": "0",
            "evidence-0-title": "Lockouts", "evidence-0-query": "action:auth.lockout", "evidence-0-shows": "Accounts locked."}
    assert client.post(url, {**form, "evidence-0-query": "action:(("}).status_code == 200  # refused, named
    assert client.post(url, form).status_code == 302
    control = framework_get("soc2_type2").controls.get(ref="CC7.2")
    assert [e.query for e in control.evidence.all()] == ["action:auth.lockout"]
    change = Event.objects.get(action="audit.report.framework.update")
    assert change.changes["after"][0]["query"] == "action:auth.lockout"


def test_a_compliance_officer_may_read_but_not_edit_the_mapping(people, browser_for):
    client = browser_for("compliance")
    assert client.get("/reports/frameworks/soc2_type2/").status_code == 200
    assert client.get("/reports/frameworks/soc2_type2/controls/CC7.2/edit/").status_code == 403


# --- schedules ------------------------------------------------------------------------------------


def test_a_schedule_form_refuses_a_bad_cron_and_bad_addresses(people, browser_for):
    client = browser_for("compliance")
    response = client.post("/reports/schedules/new/", {
        "name": "Weekly", "report_type": "access_audit", "period": "previous_week", "recurrence": "cron",
        "cron": "every monday", "recipients": "ciso@example.com, not-an-address", "format": "pdf", "enabled": "on"})
    errors = response.context["form"].errors
    assert "cron" in errors and "recipients" in errors
    assert Schedule.objects.count() == 0


def test_a_weekly_schedule_runs_next_monday_at_six_and_covers_the_previous_week(people, browser_for):
    client = browser_for("compliance")
    client.post("/reports/schedules/new/", {
        "name": "Weekly access", "report_type": "access_audit", "period": "previous_week", "recurrence": "weekly",
        "recipients": "ciso@example.com", "format": "pdf", "enabled": "on"})
    schedule = Schedule.objects.get()
    assert schedule.next_run_at.weekday() == 0 and schedule.next_run_at.hour == 6
    from apps.reports.schedules import period_of
    start, end = period_of(schedule, at=datetime(2026, 11, 23, 6, tzinfo=dt_timezone.utc))
    assert (start, end) == (datetime(2026, 11, 16, tzinfo=dt_timezone.utc), datetime(2026, 11, 23, tzinfo=dt_timezone.utc))


def test_the_pdf_chart_draws_one_column_per_busy_bucket_and_its_scale_over_them():
    from apps.reports.render import chart

    series = [("2025-03-01T00:00:00Z", 4), ("2025-03-02T00:00:00Z", 0), ("2025-03-03T00:00:00Z", 8),
              ("2025-03-04T00:00:00Z", 2)]
    svg = str(chart(series, step="day", label="Week"))
    assert svg.count("<path ") == 1 and "<rect x" not in svg
    path = svg.split('<path d="', 1)[1].split('"', 1)[0]
    assert path.count("M") == 3  # the empty day has no column
    heights = [108 - float(segment.split()[1].split("h")[0]) for segment in path.split("M")[1:]]
    assert heights == [54.0, 108.0, 27.0]  # 4, 8 and 2 events on a scale of 8
    # The scale's labels (4 and 8) come after the columns, so no column is drawn over them.
    assert svg.index(">4</text>") > svg.index("<path ") and svg.index(">8</text>") > svg.index("<path ")
    assert "Week: 14 events, at most 8 per day" in svg
