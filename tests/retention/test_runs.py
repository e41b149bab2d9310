"""Retention runs: events back-dated through ingest leave the table for warm segments, then go
cold, then are deleted, by policy and per event type; the chain verifies after every step."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from apps.events.chain_verification import chain_verify
from apps.events.models import ChainStub, Event
from apps.retention.models import LegalHold, RetentionPolicy, Segment
from apps.retention.runs import retention_run
from apps.retention.segments import warm_path

from tests.factories import as_owner


def _stored():
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM audit_event ORDER BY seq")
        return {row[0] for row in cursor.fetchall()}


def _verified(with_archives=True):
    result = chain_verify(with_archives=with_archives)
    assert result.valid, (result.first_bad_seq, result.reason)
    return result


def _later(days):
    return timezone.now() + timedelta(days=days)


def test_events_past_their_hot_days_move_to_a_verified_warm_segment_and_leave_stubs(db, aged):
    old = aged(("demo.thing.do", 40), ("demo.thing.do", 35))
    young = aged(("demo.thing.do", 2))
    run = retention_run(trigger="manual")
    assert run.state == "done", run.error
    assert young[0] in _stored() and not set(old) & _stored()
    segment = Segment.objects.get()
    assert segment.state == Segment.State.WARM and segment.count == 2
    assert warm_path(segment.file_name).exists()
    assert ChainStub.objects.filter(segment_id=segment.pk).count() == 2
    assert _verified().archived_checked == 2


def test_events_go_hot_warm_cold_deleted_per_event_type_with_the_most_specific_pattern_winning(db, aged, tmp_path):
    RetentionPolicy.objects.create(name="Resources", event_types=["resource.*"], hot_days=5, warm_days=10, cold_months=1)
    RetentionPolicy.objects.create(name="Deletes", event_types=["resource.delete"], hot_days=180, warm_days=730,
                                   cold_months=120)
    views = aged(("resource.view", 8), ("resource.view", 9))
    deletes = aged(("resource.delete", 8))
    logins = aged(("auth.login", 8))
    _verified()

    retention_run()  # day 0: the views pass 5 hot days; deletes (180) and the default (30) stay hot
    assert not set(views) & _stored() and set(deletes + logins) <= _stored()
    views_segment = Segment.objects.get(policy__name="Resources")
    assert views_segment.state == Segment.State.WARM
    _verified()

    retention_run(now=_later(5))  # past 10 days: cold
    views_segment.refresh_from_db()
    assert views_segment.state == Segment.State.COLD and not warm_path(views_segment.file_name).exists()
    assert (tmp_path / "cold" / views_segment.file_name).exists()
    _verified()  # recomputed from the cold copy

    retention_run(now=_later(40))  # past one month: deleted; the default's login goes warm
    views_segment.refresh_from_db()
    assert views_segment.state == Segment.State.DELETED
    assert not (tmp_path / "cold" / views_segment.file_name).exists()
    assert ChainStub.objects.filter(segment_id=views_segment.pk).count() == 2  # stubs stay
    assert set(deletes) <= _stored() and not set(logins) & _stored()
    _verified()


def test_a_tampered_stub_is_detected_at_its_seq(db, aged):
    aged(("demo.thing.do", 40), ("demo.thing.do", 40), ("demo.thing.do", 40))
    aged(("demo.thing.do", 1))
    retention_run()
    stub = ChainStub.objects.order_by("seq")[1]
    with as_owner() as cursor:
        # What a superuser could do: the stub table refuses UPDATE to everyone else.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE audit_chain_stub SET hash = %s WHERE seq = %s", [bytes(32), stub.seq])
        cursor.execute("SET session_replication_role = DEFAULT")
    result = chain_verify()
    assert not result.valid and result.first_bad_seq == stub.seq


def test_a_changed_byte_in_a_segment_file_is_detected(db, aged):
    aged(("demo.thing.do", 40), ("demo.thing.do", 41))
    retention_run()
    segment = Segment.objects.get()
    path = warm_path(segment.file_name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert chain_verify().valid  # the stubs alone still link
    result = chain_verify(with_archives=True)
    assert not result.valid and "SHA-256" in result.reason and result.first_bad_seq == segment.first_seq


def test_the_events_table_refuses_any_other_delete(db, aged):
    aged(("demo.thing.do", 1))
    with pytest.raises(DatabaseError, match="permission denied"):  # the console's role has no DELETE
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_event")
    with pytest.raises(DatabaseError, match="append-only"):  # the owner meets the guard trigger
        with transaction.atomic(), as_owner() as cursor:
            cursor.execute("DELETE FROM audit_event")
    assert Event.objects.count() == 1


def test_only_the_purge_module_deletes_from_the_events_table():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "apps"
    deleting = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                      if "DELETE FROM audit_event" in path.read_text())
    calling = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                     if "SELECT retention_purge_segment(" in path.read_text() and "/migrations/" not in str(path))
    assert deleting == ["retention/migrations/0003_purge_function.py"]  # the owner's SECURITY DEFINER function
    assert calling == ["retention/purge.py"]


def test_held_events_survive_delete_after_and_go_when_the_hold_is_released(db, aged):
    RetentionPolicy.objects.create(name="Views", event_types=["resource.view"], hot_days=1, warm_days=2, cold_months=0)
    aged(("resource.view", 5), project="p1", actor="mallory")
    aged(("resource.view", 5), project="p2", actor="bob")
    hold = LegalHold.objects.create(name="Case 42", query="actor:mallory", reason="litigation", owner="legal")
    run = retention_run()
    segment = Segment.objects.get()
    assert segment.state == Segment.State.WARM and segment.held and run.segments_held == 1
    assert warm_path(segment.file_name).exists()
    hold.released_at = timezone.now()
    hold.save()
    retention_run()
    segment.refresh_from_db()
    assert segment.state == Segment.State.DELETED and not warm_path(segment.file_name).exists()
    _verified()


def test_verify_chain_with_archives_from_the_command_line(db, aged, capsys):
    aged(("demo.thing.do", 40), ("demo.thing.do", 41))
    retention_run()
    call_command("verify_chain", "--with-archives", "--workers", "1")
    assert "2 archived events recomputed" in capsys.readouterr().out


def test_an_event_whose_predecessor_was_archived_still_shows_as_verified_in_the_api(people, aged):
    from apps.rbac.tokens import token_issue
    from tests.factories import ApiClient

    aged(("demo.thing.do", 40))
    young = aged(("demo.thing.do", 1))
    retention_run()
    api = ApiClient(token_issue(scope="read", user=people["admin"]).secret)
    response = api.post("/api/v1/audit-logs/search", {"query": "action:demo.thing.do", "start_time": "2020-01-01T00:00:00Z"})
    assert response.status_code == 200, response.content
    (log,) = response.json()["audit_logs"]
    assert log["event_id"] == young[0] and log["verification"]["verified"] is True


def test_verify_this_event_links_to_a_neighbour_retention_archived(db, aged):
    from apps.events.models import Event
    from apps.events.event_verification import event_verify

    aged(("demo.thing.do", 40))
    young = aged(("demo.thing.do", 1))
    retention_run()
    event = Event.objects.get(event_id=young[0])
    checks = {check.label: check.ok for check in event_verify(event=event).checks}
    assert checks["Links to the event before it"] is True


def test_a_segment_checks_offline_with_the_public_key_from_its_signed_manifest_beside_it(db, aged, tmp_path):
    import base64
    import hashlib
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from apps.events.canonical import canonical_json
    from apps.retention.segments import sidecar_path

    RetentionPolicy.objects.create(name="Views", event_types=["resource.view"], hot_days=5, warm_days=10, cold_months=1)
    aged(("resource.view", 12), ("resource.view", 13))
    retention_run()
    segment = Segment.objects.get()
    cold = tmp_path / "cold" / segment.file_name
    sidecar = json.loads(sidecar_path(cold).read_text())
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(sidecar["public_key"]))
    key.verify(base64.b64decode(sidecar["signature"]), canonical_json(sidecar["manifest"]))  # raises if forged
    assert sidecar["manifest"]["sha256"] == hashlib.sha256(cold.read_bytes()).hexdigest()
    assert sidecar["manifest"]["count"] == 2 and not sidecar_path(warm_path(segment.file_name)).exists()
