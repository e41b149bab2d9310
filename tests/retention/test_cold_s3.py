"""Cold storage on S3-compatible object storage, and restoring a cold segment to warm.

The S3 here is moto's server mode: an EMULATOR of S3 (Object Lock included) started by the
test on 127.0.0.1, spoken to by boto3 over HTTP exactly as a real endpoint would be.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.utils import timezone

from apps.events.chain_verification import chain_verify
from apps.rbac.audit_trail import Actor
from apps.retention.models import RetentionPolicy, Segment
from apps.retention.restore import segment_restore
from apps.retention.runs import retention_run
from apps.retention.segments import warm_path
from auditconsole.processes import processes_stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_emulator():
    """moto's S3 emulator in server mode, on a port of its own."""
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                processes_stop([process], timeout=5)
                pytest.fail("moto's S3 emulator did not start")
            time.sleep(0.2)
    yield url
    processes_stop([process], timeout=10)


@pytest.fixture
def s3_bucket(s3_emulator, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=s3_emulator, region_name="us-east-1")
    bucket = f"audit-cold-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    settings.RETENTION_COLD_URL = f"s3://{bucket}/segments"
    settings.RETENTION_S3_ENDPOINT_URL = s3_emulator
    return client, bucket


def test_segments_go_cold_to_s3_under_object_lock_and_restore_to_warm_for_some_days(db, aged, s3_bucket):
    client, bucket = s3_bucket
    RetentionPolicy.objects.create(name="Resources", event_types=["resource.*"], hot_days=5, warm_days=10, cold_months=1)
    aged(("resource.view", 12), ("resource.update", 12))
    retention_run()
    segment = Segment.objects.get()
    assert segment.state == Segment.State.COLD and not warm_path(segment.file_name).exists()

    key = f"segments/{segment.file_name}"
    stored = client.get_object(Bucket=bucket, Key=key)
    assert stored["ContentLength"] == segment.size
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    assert stored["ObjectLockRetainUntilDate"] > timezone.now()
    assert chain_verify(with_archives=True).archived_checked == 2  # recomputed from the S3 copy

    segment_restore(segment=segment, days=3, actor=Actor.system("test"))
    segment.refresh_from_db()
    assert warm_path(segment.file_name).exists()
    assert timezone.now() + timedelta(days=2) < segment.restored_until < timezone.now() + timedelta(days=4)

    retention_run(now=timezone.now() + timedelta(days=4))  # the restore's days are over
    segment.refresh_from_db()
    assert segment.restored_until is None and not warm_path(segment.file_name).exists()
    assert segment.state == Segment.State.COLD


def test_a_cold_copy_that_does_not_match_its_manifest_is_not_restored(db, aged, s3_bucket):
    client, bucket = s3_bucket
    RetentionPolicy.objects.create(name="Resources", event_types=["resource.*"], hot_days=5, warm_days=10, cold_months=1)
    aged(("resource.view", 12))
    retention_run()
    segment = Segment.objects.get()
    client.put_object(Bucket=bucket, Key=f"segments/{segment.file_name}", Body=b"not the segment")
    from apps.retention.policies import PolicyError

    with pytest.raises(PolicyError, match="failed its check"):
        segment_restore(segment=segment, days=3, actor=Actor.system("test"))
    assert not warm_path(segment.file_name).exists()


def test_a_held_cold_segment_is_kept_on_s3_and_deleted_once_the_hold_ends(db, aged, s3_bucket):
    from apps.retention.models import LegalHold

    client, bucket = s3_bucket
    RetentionPolicy.objects.create(name="Resources", event_types=["resource.*"], hot_days=5, warm_days=10, cold_months=1)
    aged(("resource.view", 12), project="p1", actor="mallory")
    retention_run()
    segment = Segment.objects.get()
    assert segment.state == Segment.State.COLD
    hold = LegalHold.objects.create(name="Case 7", query="actor:mallory", reason="inquiry", owner="legal")

    retention_run(now=timezone.now() + timedelta(days=40))  # past delete age, but held (checked from the S3 copy)
    segment.refresh_from_db()
    assert segment.state == Segment.State.COLD and segment.held
    client.head_object(Bucket=bucket, Key=f"segments/{segment.file_name}")

    hold.released_at = timezone.now()
    hold.save()
    retention_run(now=timezone.now() + timedelta(days=40))
    segment.refresh_from_db()
    assert segment.state == Segment.State.DELETED
    listed = client.list_objects_v2(Bucket=bucket, Prefix="segments/").get("Contents", [])
    assert listed == []  # versioned (Object Lock) bucket: a delete marker hides the locked version
    assert chain_verify(with_archives=True).valid  # the stubs stand alone
