"""The viewer's Export button: small exports stream at once, large ones are written by the
worker with progress and a download link kept for a set time; the visibility rule holds; each
export and each change of a template is recorded in the chained log."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.events.models import Event
from apps.exports.jobs import export_job_run, export_jobs_expire
from apps.exports.models import ExportJob, ExportTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def exports_root(settings, tmp_path):
    settings.EXPORTS_ROOT = tmp_path / "exports"
    return settings.EXPORTS_ROOT


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_viewer_shows_an_export_button_carrying_the_search(log, browser_for):
    page = browser_for("analyst").get("/events/?q=project:p1")

    assert b'id="export-button"' in page.content
    assert b"/exports/?q=project%3Ap1" in page.content


def test_a_role_without_export_sees_no_button_and_is_refused(log, browser_for):
    client = browser_for("compliance")

    assert b'id="export-button"' not in client.get("/events/").content
    assert client.get("/exports/").status_code == 403
    assert client.post("/exports/", {"format": "csv", "qs": ""}).status_code == 403


def test_the_export_page_counts_the_search_and_offers_every_format(log, browser_for):
    page = browser_for("analyst").get("/exports/?q=project:p1")

    assert page.status_code == 200
    assert page.context["total"] == 3
    values = [value for _, group in page.context["form"].fields["format"].choices for value, _ in group]
    assert {"csv", "cef", "leef", "syslog", "parquet", "ocsf"} <= set(values)


def test_a_small_export_streams_at_once_with_only_the_visible_events(log, browser_for):
    response = browser_for("analyst_p1").post("/exports/", {"format": "csv", "qs": ""})

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="audit-logs_beginning_')
    assert {row["event_id"] for row in rows(response)} == {"alice-p1", "bob-p1", "system-p1"}


def test_a_bad_search_is_named_and_nothing_is_exported(log, browser_for):
    response = browser_for("analyst").post("/exports/", {"format": "csv", "qs": "q=actor%3A"})

    assert response.status_code == 200
    assert "the search is not valid" in response.context["search_error"]


def test_an_unknown_format_is_a_form_error_not_a_500(log, browser_for):
    response = browser_for("analyst").post("/exports/", {"format": "xlsx", "qs": ""})

    assert response.status_code == 200
    assert "format" in response.context["form"].errors


def test_a_large_export_goes_to_the_worker_and_is_downloaded_when_ready(log, browser_for, settings):
    settings.EXPORTS_DIRECT_MAX = 2
    client = browser_for("analyst")

    response = client.post("/exports/", {"format": "parquet", "qs": "q=project:p2"})

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/exports/{job.pk}/"
    assert job.status == "queued" and job.expected == 3
    waiting = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"})
    assert b"Waiting for the worker" in waiting.content and b"<html" not in waiting.content

    export_job_run(job.pk)  # what the worker does

    job.refresh_from_db()
    assert job.status == "done" and job.written == 3 and job.progress == 100
    assert job.expires_at > timezone.now() + timedelta(hours=settings.EXPORTS_KEEP_HOURS - 1)
    ready = client.get(f"/exports/{job.pk}/")
    assert b"Download" in ready.content
    download = client.get(f"/exports/{job.pk}/download/")
    assert download.status_code == 200
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(b"".join(download.streaming_content)))
    assert sorted(table.column("event_id").to_pylist()) == ["alice-by-email-p2", "carol-p2", "max-p2"]


def test_the_worker_reads_as_the_user_who_asked(log, browser_for, settings):
    settings.EXPORTS_DIRECT_MAX = 0
    browser_for("analyst_p1").post("/exports/", {"format": "jsonl", "qs": ""})

    job = export_job_run(ExportJob.objects.get().pk)

    assert job.written == 3
    assert "carol-p2" not in Path(job.path).read_text()


def test_someone_elses_export_is_not_found(log, browser_for, people, settings):
    settings.EXPORTS_DIRECT_MAX = 0
    browser_for("analyst").post("/exports/", {"format": "csv", "qs": ""})
    job = export_job_run(ExportJob.objects.get().pk)

    assert browser_for("analyst_p1").get(f"/exports/{job.pk}/download/").status_code == 404
    assert browser_for("admin").get(f"/exports/{job.pk}/").status_code == 404


def test_an_expired_export_loses_its_file_and_its_link(log, browser_for, settings):
    settings.EXPORTS_DIRECT_MAX = 0
    client = browser_for("analyst")
    client.post("/exports/", {"format": "csv", "qs": ""})
    job = export_job_run(ExportJob.objects.get().pk)
    assert job.written == 6 and len(Path(job.path).read_text().splitlines()) == 7  # CSV progress counts rows too

    assert export_jobs_expire(now=job.expires_at + timedelta(seconds=1)) == 1

    assert not Path(job.path).exists()
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
    assert b"expired" in client.get(f"/exports/{job.pk}/").content


@pytest.mark.audit_trail
def test_every_export_from_the_viewer_is_recorded_in_the_chained_log(log, browser_for, settings):
    client = browser_for("analyst")
    rows(client.post("/exports/", {"format": "cef", "qs": "q=project:p1"}))
    settings.EXPORTS_DIRECT_MAX = 0
    client.post("/exports/", {"format": "csv", "qs": ""})

    records = list(Event.objects.filter(action="audit.events.export").order_by("seq"))
    assert [r.metadata["delivery"] for r in records] == ["direct", "worker"]
    assert records[0].metadata["format"] == "cef" and records[0].actor_id == "sam"
    assert records[0].metadata["query"] == "q=project:p1"


# --- templates ------------------------------------------------------------------------------


def test_a_user_keeps_a_template_and_exports_with_it(log, browser_for, people):
    client = browser_for("analyst")
    response = client.post("/exports/templates/new/", {
        "name": "ids", "source": "{{ event.event_id|csv }}", "extension": "csv", "content_type": "text/csv",
        "header": "event_id", "shared": "on"})

    assert response.status_code == 302
    template = ExportTemplate.objects.get()
    assert template.owner == people["analyst"]  # not shared: an analyst may not share
    export = client.post("/exports/", {"format": f"template:{template.pk}", "qs": "q=project:p1"})
    assert sorted(b"".join(export.streaming_content).decode().splitlines()) == ["alice-p1", "bob-p1", "event_id",
                                                                                 "system-p1"]
    assert browser_for("analyst_p1").get(f"/exports/templates/{template.pk}/edit/").status_code == 404


def test_an_administrator_shares_a_template_with_everyone_who_exports(log, browser_for):
    browser_for("admin").post("/exports/templates/new/", {
        "name": "shared one", "source": "{{ event.seq }}", "extension": "txt", "content_type": "text/plain",
        "shared": "on"})

    template = ExportTemplate.objects.get()
    assert template.owner is None
    page = browser_for("analyst_p1").get("/exports/")
    assert f"template:{template.pk}".encode() in page.content


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "x", "source": "{{ event.seq ", "extension": "txt", "content_type": "text/plain"}, "source"),
    ({"name": "x", "source": "{{ event.seq }}", "extension": "../x", "content_type": "text/plain"}, "extension"),
    ({"name": "x", "source": "{{ event.seq }}", "extension": "txt", "content_type": "application/x-sh"},
     "content_type"),
    ({"name": "", "source": "{{ event.seq }}", "extension": "txt", "content_type": "text/plain"}, "name"),
])
def test_a_bad_template_is_refused_naming_the_field_and_nothing_is_stored(log, browser_for, data, field):
    response = browser_for("analyst").post("/exports/templates/new/", data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not ExportTemplate.objects.exists()


@pytest.mark.audit_trail
def test_template_changes_are_recorded_in_the_chained_log(log, browser_for):
    client = browser_for("analyst")
    client.post("/exports/templates/new/", {"name": "t", "source": "{{ event.seq }}", "extension": "txt",
                                           "content_type": "text/plain"})
    template = ExportTemplate.objects.get()
    client.post(f"/exports/templates/{template.pk}/delete/")

    actions = list(Event.objects.filter(category="audit", action__startswith="audit.exports.")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["audit.exports.template_create", "audit.exports.template_delete"]
