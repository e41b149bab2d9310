"""POST /api/v1/import/<format> with an ingest token."""
from __future__ import annotations

import gzip
import json

import pytest

from apps.events.models import Event
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient
from tests.importers.samples_paths import FALCO, GCP, STRATUS

ADMIN_USER = STRATUS / "aws.persistence.iam-create-admin-user.json"


def _post(api: ApiClient, fmt: str, body: bytes, query: str = "", **headers):
    return api.post(f"/api/v1/import/{fmt}{query}", raw=body, content_type="application/json", headers=headers or None)


def test_an_ingest_token_imports_a_cloudtrail_file_and_a_repeat_stores_nothing(ingest_api):
    response = _post(ingest_api, "cloudtrail", ADMIN_USER.read_bytes())
    assert response.status_code == 202
    assert response.json() == {"format": "cloudtrail", "files": {"request body": "cloudtrail"}, "read": 3,
                               "imported": 3, "duplicates": 0, "skipped": 0, "refused": 0, "conflicts": 0,
                               "problems": []}
    again = _post(ingest_api, "auto", ADMIN_USER.read_bytes()).json()
    assert (again["imported"], again["duplicates"]) == (0, 3)
    assert Event.objects.count() == 3


def test_a_gzipped_body_is_read(ingest_api):
    response = _post(ingest_api, "auto", gzip.compress(ADMIN_USER.read_bytes()))
    assert (response.status_code, response.json()["imported"]) == (202, 3)


def test_refused_records_are_listed_and_the_rest_stored(ingest_api):
    body = (FALCO / "exec_pod.json").read_text().strip() + "\n" + '{"kind": 0}\n'
    response = _post(ingest_api, "kubernetes", body.encode())
    assert response.status_code == 202
    assert (response.json()["imported"], response.json()["problems"]) == (1, [
        {"file": "request body", "where": "line 2", "reason": "kind is 0, not 'Event': not a Kubernetes audit event"}])


def test_an_unreadable_body_is_a_400_naming_the_line(ingest_api):
    text = ADMIN_USER.read_text()
    response = _post(ingest_api, "cloudtrail", text[:200].encode())
    assert response.status_code == 400
    last_line = text[:200].count("\n") + 1
    assert response.json()["error"].startswith(f"request body, line {last_line}, column ")
    assert response.json()["error"].endswith("the JSON ends too early (a truncated file?); nothing of this file was imported")
    assert Event.objects.count() == 0


@pytest.mark.parametrize("fmt,body,status,message", [
    ("syslog", b"{}", 400, "format 'syslog' is not one of: auto, cloudtrail"),
    ("okta", ADMIN_USER.read_bytes(), 400, "this is not Okta System Log: it looks like AWS CloudTrail"),
    ("auto", b"", 400, "the body is empty"),
])
def test_bad_requests_are_refused_with_a_message(ingest_api, fmt, body, status, message):
    response = _post(ingest_api, fmt, body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert Event.objects.count() == 0


def test_a_read_token_or_no_token_cannot_import(read_api):
    assert _post(read_api, "cloudtrail", ADMIN_USER.read_bytes()).status_code == 403
    assert _post(ApiClient(), "cloudtrail", ADMIN_USER.read_bytes()).status_code == 401
    assert Event.objects.count() == 0


def test_a_body_over_the_limit_is_413(ingest_api, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024
    assert _post(ingest_api, "cloudtrail", ADMIN_USER.read_bytes()).status_code == 413


def test_a_project_limited_token_writes_only_to_its_projects(db):
    api = ApiClient(token_issue(scope="ingest", projects=["payments"]).secret)
    refused = _post(api, "gcp", (GCP / "google.iam.admin.v1.SetIamPolicy-keyAdmin.json").read_bytes()).json()
    assert refused["imported"] == 0
    assert refused["problems"][0]["reason"].startswith("project 'my-project' is not one of this token's projects (payments)")
    named = _post(api, "gcp", (GCP / "google.iam.admin.v1.SetIamPolicy-keyAdmin.json").read_bytes(), "?project=payments").json()
    assert named["imported"] == 1
    stamped = _post(api, "kubernetes", (FALCO / "exec_pod.json").read_bytes()).json()
    assert stamped["imported"] == 1
    assert set(Event.objects.values_list("project", flat=True)) == {"payments"}


def test_forged_console_records_are_refused(ingest_api):
    record = json.loads((FALCO / "exec_pod.json").read_text())
    okta_like = {"uuid": "x", "published": "2024-01-01T00:00:00Z", "eventType": "audit.role.assign",
                 "actor": {"id": "1", "alternateId": "mallory@example.com"}}
    body = json.dumps(okta_like).encode()
    response = _post(ingest_api, "okta", body)
    assert "reserved for the console's own audit trail" in response.json()["problems"][0]["reason"]
    assert Event.objects.count() == 0
    assert record  # the k8s record is valid and unchanged; only the forged one was refused


@pytest.mark.audit_trail
def test_the_import_is_recorded_with_the_token_as_actor(ingest_api):
    _post(ingest_api, "cloudtrail", ADMIN_USER.read_bytes())
    record = Event.objects.get(action="audit.importers.import")
    assert (record.actor_type, record.auth_method, record.metadata["imported"]) == ("api_key", "token", 3)


def test_a_gzip_bomb_is_refused_without_reading_it_whole(ingest_api, settings):
    settings.INGEST_MAX_BODY_BYTES = 64 * 1024
    line = (FALCO / "exec_pod.json").read_text().strip() + "\n"
    bomb = gzip.compress((line * 2000).encode())  # some 4 MiB of JSON Lines in a body of a few KiB
    assert len(bomb) < settings.INGEST_MAX_BODY_BYTES
    response = _post(ingest_api, "kubernetes", bomb)
    # The lines within the bound are taken (JSON Lines stream); the rest is refused with the reason.
    assert response.status_code == 202
    [problem] = response.json()["problems"]
    assert problem["reason"] == "the file is larger than 640 KiB once decompressed; import it with manage.py import_events"
    assert response.json()["imported"] == 1 and response.json()["duplicates"] > 0
    assert Event.objects.count() == 1


def test_a_whole_document_too_large_once_decompressed_is_a_400(ingest_api, settings):
    settings.INGEST_MAX_BODY_BYTES = 8 * 1024
    records = json.loads(ADMIN_USER.read_text()) * 50
    body = gzip.compress(json.dumps({"Records": records}, indent=2).encode())
    assert len(body) < settings.INGEST_MAX_BODY_BYTES
    response = _post(ingest_api, "cloudtrail", body)
    assert response.status_code == 400
    assert response.json()["error"].endswith("the file is larger than 80 KiB once decompressed; import it with "
                                             "manage.py import_events; nothing of this file was imported")
    assert Event.objects.count() == 0


def test_a_record_whose_id_names_another_projects_event_is_listed_as_a_conflict(ingest_api):
    assert _post(ingest_api, "cloudtrail", ADMIN_USER.read_bytes(), "?project=first").status_code == 202
    answer = _post(ingest_api, "cloudtrail", ADMIN_USER.read_bytes(), "?project=second").json()
    assert (answer["imported"], answer["duplicates"], answer["conflicts"]) == (0, 0, 3)
    assert [(p["file"], p["where"]) for p in answer["problems"]] == [("request body", f"record {n}") for n in (1, 2, 3)]
    assert all("already taken by another event" in p["reason"] for p in answer["problems"])
    assert "first" not in json.dumps(answer["problems"])
    assert set(Event.objects.values_list("project", flat=True)) == {"first"}
