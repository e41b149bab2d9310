"""The import page: Audit Administrators upload, preview, import and see the summary."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.events.models import Event
from tests.importers.samples_paths import FALCO, STRATUS

ADMIN_USER = STRATUS / "aws.persistence.iam-create-admin-user.json"


def _file(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="application/json")


def _preview(client, path, **fields):
    return client.post("/import/preview/", {"file": _file(path), "format": "auto", "project": "", **fields})


def test_an_administrator_previews_then_imports_a_file(browser_for):
    admin = browser_for("admin")
    page = admin.get("/import/")
    assert page.status_code == 200 and b"Drop a log file here" in page.content
    preview = _preview(admin, ADMIN_USER)
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "iam.attach_user_policy" in body and "christophe" in body and "malicious-iam-user" in body
    assert "Import 3 events" in body
    assert Event.objects.count() == 0
    upload = preview.context["upload"].id
    done = admin.post("/import/run/", {"upload": upload})
    assert done.status_code == 200
    assert "Imported 3 events from aws.persistence.iam-create-admin-user.json" in done.content.decode()
    assert Event.objects.count() == 3
    # The upload is gone once imported: posting it again is refused, nothing stored twice.
    again = admin.post("/import/run/", {"upload": upload})
    assert again.status_code == 400 and "expired or was already imported" in again.content.decode()
    assert Event.objects.count() == 3


def test_refused_records_and_unreadable_files_are_listed_on_the_page(browser_for):
    admin = browser_for("admin")
    preview = _preview(admin, FALCO / "fal_01_003.json", format="kubernetes")
    assert "kind is 0, not &#x27;Event&#x27;: not a Kubernetes audit event" in preview.content.decode()
    assert b"import-button" not in preview.content
    wrong = _preview(admin, ADMIN_USER, format="okta")
    assert "this is not Okta System Log: it looks like AWS CloudTrail" in wrong.content.decode()
    assert b"import-button" not in wrong.content


def test_another_sessions_upload_cannot_be_imported(browser_for):
    upload = _preview(browser_for("admin"), ADMIN_USER).context["upload"].id
    response = browser_for("admin").post("/import/run/", {"upload": upload})
    assert response.status_code == 400
    assert Event.objects.count() == 0


def test_a_missing_file_is_named(browser_for):
    response = browser_for("admin").post("/import/preview/", {"format": "auto"})
    assert response.status_code == 400
    assert "Log file: This field is required." in response.content.decode()


def test_event_fields_are_escaped_in_the_preview(browser_for, tmp_path):
    path = tmp_path / "evil.jsonl"
    path.write_text('{"uuid": "1", "published": "2024-01-01T00:00:00Z", "eventType": "user.session.start", '
                    '"actor": {"id": "1", "displayName": "<script>alert(1)</script>", "alternateId": "x"}}\n')
    body = _preview(browser_for("admin"), path).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("persona", ["analyst", "compliance", "regular", "auditor", "no_role"])
def test_only_those_who_may_issue_tokens_see_the_page(browser_for, persona):
    client = browser_for(persona)
    assert client.get("/import/").status_code == 403
    assert _preview(client, ADMIN_USER).status_code == 403
    assert Event.objects.filter(action__startswith="iam.").count() == 0


def test_the_nav_shows_import_only_to_administrators(browser_for):
    assert b'href="/import/"' in browser_for("admin").get("/").content
    assert b'href="/import/"' not in browser_for("analyst").get("/").content


@pytest.mark.audit_trail
def test_an_import_from_the_page_is_recorded_with_the_administrator_as_actor(browser_for):
    admin = browser_for("admin")
    upload = _preview(admin, ADMIN_USER).context["upload"].id
    admin.post("/import/run/", {"upload": upload})
    record = Event.objects.get(action="audit.importers.import")
    assert (record.actor_id, record.category, record.metadata["imported"]) == ("ada", "audit", 3)
