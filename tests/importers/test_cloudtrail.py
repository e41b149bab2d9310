"""CloudTrail on the real Stratus Red Team detonation logs (DataDog/stratus-red-team, Apache-2.0;
shared/realdata/aws_cloudtrail/stratus_red_team)."""
from __future__ import annotations

import gzip
import io
import json
from datetime import datetime, timezone

import pytest

from apps.events.models import Event
from apps.importers.run import import_run
from tests.importers.samples_paths import SAMPLES, STRATUS

# Records per file, as published; every one of them is imported, none refused.
STRATUS_COUNTS = {
    "aws.credential-access.ec2-get-password-data.json": 34,
    "aws.credential-access.ec2-steal-instance-credentials.json": 45,
    "aws.credential-access.secretsmanager-retrieve-secrets.json": 21,
    "aws.defense-evasion.cloudtrail-stop.json": 1,
    "aws.defense-evasion.dns-delete-logs.json": 1,
    "aws.defense-evasion.organizations-leave.json": 3,
    "aws.execution.ssm-send-command.json": 56,
    "aws.initial-access.console-login-without-mfa.json": 1,
    "aws.persistence.iam-create-admin-user.json": 3,
    "aws.privilege-escalation.iam-update-user-login-profile.json": 1,
}


@pytest.mark.parametrize("name,count", sorted(STRATUS_COUNTS.items()))
def test_each_stratus_file_is_imported_whole(import_files, name, count):
    summary = import_files(STRATUS / name)
    assert summary.files == {str(STRATUS / name): "cloudtrail"}
    assert (summary.imported, len(summary.refused), summary.unreadable) == (count, 0, [])
    assert Event.objects.count() == count


def test_all_35_stratus_files_give_310_events_and_none_is_refused(import_files):
    summary = import_files(*sorted(STRATUS.glob("*.json")))
    assert (summary.read, summary.imported, summary.refused, summary.unreadable) == (310, 310, [], [])


def test_the_admin_user_story_is_mapped_field_by_field(import_files, find):
    import_files(STRATUS / "aws.persistence.iam-create-admin-user.json")
    [event] = find("action:iam.attach_user_policy")
    assert event.actor_type == "user"
    assert event.actor_id == "arn:aws:iam::229654561268:user/christophe"
    assert event.actor_name == "christophe"
    assert event.auth_method == "token"
    assert event.outcome == "success"
    assert event.category == "iam"
    # "075.050.255.67" is not an address (zero-padded): the IP stays empty, the raw value is kept.
    assert event.ip_address is None
    assert event.metadata["sourceIPAddress"] == "075.050.255.67"
    assert event.resource_type == "iam.user" and event.resource_id == "malicious-iam-user"
    assert event.occurred_at == datetime(2024, 8, 1, 13, 33, 28, tzinfo=timezone.utc)
    assert event.project == "229654561268" and event.region == "ap-isob-central-3r"
    assert event.request_id == "710f2703-6e8a-46d5-9924-b12a3a681755"
    # Nothing dropped: the source's own fields under their original paths.
    assert event.metadata["requestParameters"]["policyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert event.metadata["userIdentity"]["accessKeyId"] == "AKIAOZUDECYXYM4ONAN4"
    assert event.metadata["tlsDetails"]["tlsVersion"] == "TLSv1.3"


def test_the_admin_user_story_is_found_by_action_and_actor(import_files, find):
    import_files(*sorted(STRATUS.glob("*.json")))
    story = find("actor:christophe AND action:iam.* AND resource:malicious-iam-user")
    assert sorted(e.action for e in story) == ["iam.attach_user_policy", "iam.create_access_key", "iam.create_user"]
    assert {e.metadata["eventSource"] for e in story} == {"iam.amazonaws.com"}
    assert find("metadata.requestParameters.policyArn:*AdministratorAccess AND actor:christophe")[0].action == "iam.attach_user_policy"


def test_the_failed_get_password_data_burst_is_found_by_outcome(import_files, find):
    import_files(*sorted(STRATUS.glob("*.json")))
    burst = find("action:ec2.get_password_data AND outcome:denied")
    assert len(burst) == 30
    first = next(e for e in burst if e.metadata["eventID"] == "450230d4-b39e-4a18-a6a0-d07a6e2105cb")
    assert first.actor_type == "service"
    assert first.actor_id.startswith("arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/")
    assert first.ip_address == "200.249.253.51"
    assert first.resource_type == "ec2.instance" and first.resource_id == "i-i2jnm5swa59p4fxg"
    assert first.metadata["errorCode"] == "Client.UnauthorizedOperation"
    assert first.occurred_at == datetime(2024, 7, 30, 21, 31, 21, tzinfo=timezone.utc)
    assert find("action:ec2.get_password_data AND outcome:success") == []


def test_a_console_login_takes_its_result_from_the_response(import_files, find):
    import_files(STRATUS / "aws.initial-access.console-login-without-mfa.json")
    [login] = find("action:signin.console_login")
    assert (login.category, login.outcome, login.auth_method) == ("auth", "success", "password")
    assert login.metadata["additionalEventData"]["MFAUsed"] == "No"


def test_stopping_cloudtrail_is_a_security_event_not_the_reserved_audit_category(import_files, find):
    import_files(STRATUS / "aws.defense-evasion.cloudtrail-stop.json")
    [stop] = find("action:cloudtrail.stop_logging")
    assert stop.category == "security"


def test_records_sharing_an_event_id_are_all_stored_and_non_addresses_leave_the_ip_empty(import_files, find):
    summary = import_files(SAMPLES / "cloudtrail_shared_event_id.json")
    assert (summary.imported, summary.duplicates) == (3, 0)
    put, delete, kms = find("tags:import:cloudtrail")
    assert put.ip_address is None and put.metadata["sourceIPAddress"] == "AWS Internal"
    assert delete.ip_address == "198.51.100.7"
    assert (kms.actor_type, kms.actor_name, kms.ip_address) == ("service", "cloudtrail.amazonaws.com", None)
    assert (kms.resource_type, kms.resource_id) == ("AWS::KMS::Key", "arn:aws:kms:us-east-1:111122223333:key/abcd")
    assert all(e.event_id.startswith("cloudtrail:1:") for e in (put, delete, kms))


def test_a_gzipped_records_file_and_json_lines_are_read_alike(db, find):
    records = json.loads((STRATUS / "aws.persistence.iam-create-admin-user.json").read_text())
    delivered = gzip.compress(json.dumps({"Records": records}).encode())
    lines = "\n".join(json.dumps(r) for r in records).encode()
    first = import_run([("s3.json.gz", io.BytesIO(delivered))])
    second = import_run([("lines.jsonl", io.BytesIO(lines))])
    assert (first.imported, second.imported, second.duplicates) == (3, 0, 3)
