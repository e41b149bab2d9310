"""The one import path: idempotency, records refused one by one, unreadable files named with
their line, the reserved audit category, batches."""
from __future__ import annotations

import gzip
import io
import json

import pytest

from apps.events.chain_verification import chain_verify
from apps.events.models import Event
from apps.importers.run import ImportFailed, import_run
from tests.importers.samples_paths import FALCO, GCP, OKTA, SAMPLES, STRATUS

ADMIN_USER = STRATUS / "aws.persistence.iam-create-admin-user.json"
LOGINS = OKTA / "okta-add-administrator.1_legit_login.jsonl"


def _run(name: str, body: bytes, **options):
    return import_run([(name, io.BytesIO(body))], **options)


def _every_sample():
    return [*sorted(STRATUS.glob("*.json")), *sorted(GCP.glob("*.json")), *sorted(OKTA.glob("*.jsonl")),
            SAMPLES / "okta_admin_role_grant.jsonl", SAMPLES / "cloudtrail_shared_event_id.json"]


def test_importing_the_same_files_twice_stores_nothing_new(import_files):
    first = import_files(*_every_sample())
    stored = list(Event.objects.order_by("seq").values_list("event_id", "hash"))
    second = import_files(*_every_sample())
    assert first.imported == 333 and first.duplicates == 0
    assert (second.imported, second.duplicates, second.conflicts) == (0, 333, [])
    assert list(Event.objects.order_by("seq").values_list("event_id", "hash")) == stored
    assert chain_verify().valid


def test_the_same_record_twice_in_one_file_is_stored_once(db):
    record = json.loads(ADMIN_USER.read_text())[0]
    summary = _run("twice.json", json.dumps([record, dict(reversed(list(record.items())))]).encode())
    assert (summary.imported, summary.duplicates) == (1, 1)


def test_a_changed_record_with_the_same_id_is_a_new_event(db):
    record = json.loads(ADMIN_USER.read_text())[0]
    _run("a.json", json.dumps(record).encode())
    summary = _run("b.json", json.dumps({**record, "errorCode": "AccessDenied"}).encode())
    assert summary.imported == 1
    assert sorted(Event.objects.values_list("outcome", flat=True)) == ["denied", "success"]


def test_batches_smaller_than_the_file_store_everything_once(db):
    body = (STRATUS / "aws.credential-access.ec2-get-password-data.json").read_bytes()
    assert _run("burst.json", body, batch_size=7).imported == 34
    assert _run("burst.json", body, batch_size=5).duplicates == 34
    assert Event.objects.count() == 34


def test_a_record_that_cannot_be_mapped_is_reported_and_the_others_are_imported(db):
    records = json.loads(ADMIN_USER.read_text())
    records[1] = {**records[1], "eventTime": "yesterday at noon"}
    records.append({"eventName": "CreateUser"})
    summary = _run("mixed.json", json.dumps({"Records": records}).encode())
    assert summary.imported == 2
    assert [str(p) for p in summary.refused] == [
        "mixed.json, line 1, record 2: timestamp 'yesterday at noon' is not an ISO 8601 timestamp (e.g. 2026-03-10T14:30:45.123Z)",
        "mixed.json, line 1, record 4: eventSource is missing: not a CloudTrail record",
    ]


def test_a_truncated_file_is_named_with_its_line_and_nothing_of_it_is_stored(db):
    text = ADMIN_USER.read_text()
    summary = _run("cut.json", text[: len(text) // 2].encode())
    [problem] = summary.unreadable
    assert problem.file == "cut.json"
    assert problem.where.startswith("line ") and ", column " in problem.where
    assert problem.reason == "the JSON ends too early (a truncated file?); nothing of this file was imported"
    assert Event.objects.count() == 0


def test_a_truncated_last_line_of_json_lines_is_refused_and_the_lines_before_are_imported(db):
    lines = LOGINS.read_text().splitlines()
    body = "\n".join(lines[:4] + [lines[4][:50]]).encode()
    summary = _run("logins.jsonl", body)
    assert summary.imported == 4
    assert [(p.where, p.reason) for p in summary.refused] == [("line 5", "the JSON ends too early (a truncated line?)")]


def test_the_wrong_format_chosen_names_the_one_it_looks_like(db):
    summary = _run("trail.json", ADMIN_USER.read_bytes(), format="okta")
    assert [str(p) for p in summary.unreadable] == [
        "trail.json, record 1: this is not Okta System Log: it looks like AWS CloudTrail; choose that format or auto; "
        "nothing of this file was imported"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("body,reason", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not UTF-8 text (byte 1): a binary file?"),
    (b"{\"a\": \"\x00\"}\n", "holds NUL bytes: a binary file, not JSON text"),
    (b"{\"a\": \"\xff\xfe\"}\n", "is not UTF-8 text (byte 8): a binary file?"),
    (b"eventName,eventSource\nCreateUser,iam\n", "is not JSON (it starts with 'eventName,eventSourc')"),
])
def test_a_file_that_is_not_json_text_is_refused_with_its_line(db, body, reason):
    summary = _run("upload.bin", body, format="cloudtrail")
    assert [(p.file, p.where, p.reason) for p in summary.unreadable] == [
        ("upload.bin", "line 1", reason + "; nothing of this file was imported")]


def test_damaged_gzip_is_reported(db):
    packed = gzip.compress(ADMIN_USER.read_bytes())
    summary = _run("trail.json.gz", packed[: len(packed) // 2])
    assert "the gzip data is damaged or cut short" in summary.unreadable[0].reason
    assert Event.objects.count() == 0


def test_a_file_of_no_known_format_asks_for_one(db):
    summary = _run("other.jsonl", b'{"hello": "world"}\n')
    assert summary.unreadable[0].reason.startswith("the format cannot be told from the content")


def test_an_unknown_format_is_refused_before_anything_is_read(db):
    with pytest.raises(ImportFailed, match="format 'syslog' is not one of: auto, cloudtrail"):
        _run("x.json", b"{}", format="syslog")


def test_records_claiming_the_reserved_audit_category_are_refused(db):
    grant = json.loads((SAMPLES / "okta_admin_role_grant.jsonl").read_text())
    forged = {**grant, "uuid": "forged", "eventType": "audit.export.delete"}
    summary = _run("forged.jsonl", (json.dumps(forged) + "\n" + json.dumps(grant)).encode())
    assert summary.imported == 1
    assert [(p.where, p.reason) for p in summary.refused] == [
        ("line 1", "action 'audit.export.delete': actions under `audit.` are reserved for the console's own audit trail")]
    assert not Event.objects.filter(action__startswith="audit").exists()


def test_a_dry_run_previews_without_storing(db):
    summary = _run("trail.json", ADMIN_USER.read_bytes(), dry_run=True, preview=2)
    assert [e["action"] for e in summary.preview] == ["iam.attach_user_policy", "iam.create_access_key"]
    assert (summary.read, summary.imported) == (3, 0)
    assert Event.objects.count() == 0


def test_a_project_names_every_event_and_a_limited_token_refuses_other_projects(db):
    assert _run("a.json", ADMIN_USER.read_bytes(), project="aws-prod").imported == 3
    assert set(Event.objects.values_list("project", flat=True)) == {"aws-prod"}
    summary = _run("b.json", (FALCO / "exec_pod.json").read_bytes(), projects=["payments"])
    assert summary.imported == 1 and Event.objects.get(action="k8s.pods.exec.create").project == "payments"
    refused = _run("c.json", (GCP / "google.iam.admin.v1.SetIamPolicy-keyAdmin.json").read_bytes(), projects=["payments", "ops"])
    assert refused.refused[0].reason.startswith("project 'my-project' is not one of this token's projects (payments, ops)")


@pytest.mark.audit_trail
def test_an_import_is_recorded_in_the_console_audit_trail(db):
    _run("trail.json", ADMIN_USER.read_bytes())
    record = Event.objects.get(category="audit")
    assert record.action == "audit.importers.import"
    assert (record.metadata["imported"], record.metadata["files"]) == (3, {"trail.json": "cloudtrail"})


def test_source_fields_named_like_columns_stay_in_metadata_even_when_empty(db):
    record = {"@timestamp": 1717236000000, "_document_id": "doc-1", "action": "repo.create", "actor": "octocat",
              "user_agent": "", "request_id": "", "tags": ["a", "b"], "repo": "octo-org/x"}
    summary = _run("github.json", json.dumps([record]).encode(), format="github")
    assert summary.imported == 1
    stored = Event.objects.get()
    assert (stored.metadata["user_agent"], stored.metadata["request_id"], stored.metadata["tags"]) == ("", "", ["a", "b"])
    assert stored.tags == ["import:github"]


def test_a_redacted_secret_does_not_shape_the_event_id(db):
    records = json.loads((STRATUS / "aws.persistence.iam-create-user-login-profile.json").read_text())
    profile = next(r for r in records if r["eventName"] == "CreateLoginProfile")
    first = _run("a.json", json.dumps({**profile, "requestParameters": {**profile["requestParameters"], "password": "hunter2"}}).encode())
    second = _run("b.json", json.dumps({**profile, "requestParameters": {**profile["requestParameters"], "password": "letmein"}}).encode())
    # Readers see the password redacted; the id does not depend on it, so it cannot be used to test guesses.
    assert (first.imported, second.duplicates) == (1, 1)
    assert Event.objects.get().metadata["requestParameters"]["password"] == "[REDACTED]"


def test_a_record_imported_again_under_another_project_is_refused_as_conflicting_naming_file_and_line(db):
    body = ADMIN_USER.read_bytes()
    _run("admin.json", body, project="alpha")
    summary = _run("again.json", body, project="beta")
    assert (summary.imported, summary.duplicates, len(summary.conflicts), summary.ok) == (0, 0, 3, False)
    first = summary.conflicts[0]
    stored_id = Event.objects.order_by("seq").values_list("event_id", flat=True)[0]
    assert (first.file, first.where) == ("again.json", "record 1")
    assert first.reason == (f"event_id '{stored_id}' is already taken by another event with other content (this record "
                            "imported before under another project, or an event sent with this id); not imported")
    assert set(Event.objects.values_list("project", flat=True)) == {"alpha"}


def test_an_id_taken_by_an_event_sent_through_the_api_refuses_only_that_record(db):
    from apps.events.ingest import event_ingest
    from apps.importers.formats import cloudtrail

    records = json.loads(ADMIN_USER.read_text())
    taken = cloudtrail.event_from(records[1])["event_id"]
    event_ingest([{"event_id": taken, "action": "secret.read", "project": "other-team",
                   "description": "the other team's own event"}])
    summary = _run("admin.json", json.dumps(records).encode(), batch_size=2)
    assert (summary.imported, summary.duplicates) == (2, 0)
    assert [(p.file, p.where) for p in summary.conflicts] == [("admin.json", "line 1, record 2")]
    assert "other-team" not in str(summary.conflicts[0]) and "secret" not in str(summary.conflicts[0])
    assert Event.objects.filter(event_id=taken).get().action == "secret.read"
    assert chain_verify().valid


def test_the_command_lists_conflicting_records_and_exits_with_an_error(db, tmp_path):
    from django.core.management import CommandError, call_command

    path = tmp_path / "admin.json"
    path.write_bytes(ADMIN_USER.read_bytes())
    call_command("import_events", "--quiet", "--project", "alpha", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="3 problem"):
        call_command("import_events", "--quiet", "--project", "beta", str(path), stdout=out, stderr=err)
    assert "0 already stored, 0 skipped, 0 refused, 3 conflicting" in out.getvalue()
    assert f"refused: {path}, record 1: event_id 'cloudtrail:" in err.getvalue()
