"""Signed checkpoints: written at intervals and on demand, published with the public key,
verifiable offline, and the trusted point verification starts from once old events are gone."""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import threading
from io import StringIO

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from apps.events import signing, tasks
from apps.events.chain import CONTENT_FIELDS, checkpoint_create, checkpoint_signature_valid, content_of, event_hash, format_ip
from apps.events.chain_verification import chain_verify
from apps.events.ingest import event_ingest
from apps.events.models import Checkpoint, Event
from tests.factories import as_superuser, make_events, run_verify_chain, as_owner

pytestmark = pytest.mark.django_db


def checkpoint_seqs() -> list[int]:
    return sorted(Checkpoint.objects.values_list("seq", flat=True))


def as_superuser_on_checkpoints(sql: str) -> None:
    with as_owner() as cursor:
        cursor.execute("ALTER TABLE audit_checkpoint DISABLE TRIGGER ALL")
        cursor.execute(sql)
        cursor.execute("ALTER TABLE audit_checkpoint ENABLE TRIGGER ALL")


@pytest.fixture
def every_five(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 5


@pytest.fixture
def twelve_events(every_five, ingest):
    for batch in range(3):
        ingest(*make_events(4, f"b{batch}"))
    assert checkpoint_seqs() == [5, 10]


# --- written at intervals --------------------------------------------------------------------


def test_a_signed_checkpoint_is_written_every_n_events(every_five, ingest):
    for batch in range(4):
        ingest(*make_events(3, f"b{batch}"))  # 12 events in batches that straddle the intervals
    assert checkpoint_seqs() == [5, 10]
    for checkpoint in Checkpoint.objects.all():
        event = Event.objects.get(seq=checkpoint.seq)
        assert bytes(checkpoint.hash) == bytes(event.hash)
        assert checkpoint.event_count == checkpoint.seq
        assert checkpoint.reason == Checkpoint.Reason.INTERVAL
        assert checkpoint.key_id == signing.key_id()
        assert checkpoint_signature_valid(checkpoint)
    ingest(*make_events(3, "more"))
    assert checkpoint_seqs() == [5, 10, 15]


def test_one_batch_crossing_several_intervals_signs_each_of_them(every_five, ingest):
    ingest(*make_events(17))
    assert checkpoint_seqs() == [5, 10, 15]
    assert chain_verify().checkpoints_checked == 3


def test_no_interval_checkpoints_are_written_when_switched_off(settings, ingest):
    settings.AUDIT_CHECKPOINT_EVERY = 0
    ingest(*make_events(12))
    assert checkpoint_seqs() == []


def test_duplicates_do_not_count_towards_the_interval(every_five, ingest):
    ingest(*make_events(4))
    ingest(*make_events(4))  # all four are duplicates: still four events
    assert checkpoint_seqs() == []
    ingest(*make_events(1, "fifth"))
    assert checkpoint_seqs() == [5]


# --- verifiable offline with the published key ---------------------------------------------------


def test_the_published_signatures_verify_with_the_public_key_alone(twelve_events, read_api):
    body = read_api.get("/api/v1/checkpoints").json()
    public_key = serialization.load_pem_public_key(body["public_key_pem"].encode())
    assert isinstance(public_key, Ed25519PublicKey)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert body["key_id"] == hashlib.sha256(raw).hexdigest()[:16]

    hashes = {log["verification"]["seq"]: log["verification"]["hash"]
              for log in read_api.get("/api/v1/audit-logs", {"limit": 100}).json()["audit_logs"]}
    assert [cp["seq"] for cp in body["checkpoints"]] == [10, 5]
    for checkpoint in body["checkpoints"]:
        # The documented message: RFC 8785 JSON of {seq, hash, event_count, created_at, key_id}.
        message = rfc8785.dumps({key: checkpoint[key] for key in ("seq", "hash", "event_count", "created_at", "key_id")})
        public_key.verify(base64.b64decode(checkpoint["signature"]), message)
        assert checkpoint["hash"] == hashes[checkpoint["seq"]]
        assert checkpoint["created_at"].endswith("Z")

        forged = rfc8785.dumps({**{key: checkpoint[key] for key in ("hash", "event_count", "created_at", "key_id")},
                                "seq": checkpoint["seq"] + 1})
        with pytest.raises(InvalidSignature):
            public_key.verify(base64.b64decode(checkpoint["signature"]), forged)


def test_the_checkpoint_command_prints_the_same_public_key_the_api_publishes(read_api):
    out = StringIO()
    call_command("checkpoint", "--public-key", stdout=out)
    assert out.getvalue().strip() == read_api.get("/api/v1/checkpoints").json()["public_key_pem"].strip()
    assert signing.load_public_key(out.getvalue()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == signing.public_key_raw()
    assert signing.load_public_key(base64.b64encode(signing.public_key_raw()).decode())


def test_a_checkpoint_signed_by_another_key_does_not_verify(twelve_events):
    checkpoint = Checkpoint.objects.get(seq=5)
    assert checkpoint_signature_valid(checkpoint, signing.public_key())
    assert not checkpoint_signature_valid(checkpoint, Ed25519PrivateKey.generate().public_key())


# --- tampering that checkpoints reveal -----------------------------------------------------------


def test_the_database_refuses_to_change_a_checkpoint(twelve_events):
    with pytest.raises(DatabaseError, match="permission denied"):  # the console's role
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE audit_checkpoint SET hash = sha256(hash) WHERE seq = 5")
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"):  # the owner, by the trigger
        with transaction.atomic(), as_owner() as cursor:
            cursor.execute("UPDATE audit_checkpoint SET hash = sha256(hash) WHERE seq = 5")


def test_the_database_refuses_to_delete_a_checkpoint(twelve_events):
    with pytest.raises(DatabaseError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_checkpoint WHERE seq = 5")


def test_a_checkpoint_whose_hash_disagrees_with_its_event_is_detected(twelve_events, read_api):
    as_superuser_on_checkpoints("UPDATE audit_checkpoint SET hash = sha256(hash) WHERE seq = 5")
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 5" in err and "checkpoint" in err
    body = read_api.get("/api/v1/verify").json()
    assert (body["valid"], body["first_bad_seq"]) == (False, 5)


def test_a_checkpoint_with_a_forged_signature_is_detected(twelve_events):
    as_superuser_on_checkpoints("UPDATE audit_checkpoint SET signature = sha256(signature) || sha256(hash) WHERE seq = 10")
    result = chain_verify()
    assert (result.valid, result.first_bad_seq) == (False, 10)
    assert "signature" in result.reason


def _relink_from(seq: int) -> None:
    """Rewrite event `seq`, then recompute every later hash and the head, as an attacker with
    superuser rights and this code would: the chain is internally consistent again."""
    as_superuser(f"UPDATE audit_event SET actor_id = 'mallory' WHERE seq = {seq}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM audit_event WHERE seq = %s", [seq - 1])
        prev = bytes(cursor.fetchone()[0])
        cursor.execute(f"SELECT {', '.join(CONTENT_FIELDS)} FROM audit_event WHERE seq >= %s ORDER BY seq", [seq])
        rows = [dict(zip(CONTENT_FIELDS, row)) for row in cursor.fetchall()]
    updates = []
    for row in rows:
        digest = event_hash(prev, content_of(row))
        updates.append(("UPDATE audit_event SET prev_hash = %s, hash = %s WHERE seq = %s", [prev, digest, row["seq"]]))
        prev = digest
    updates.append(("UPDATE audit_chain_head SET seq = %s, hash = %s", [rows[-1]["seq"], prev]))
    as_superuser(*updates)


def test_a_relinked_chain_is_caught_by_the_next_signed_checkpoint(twelve_events, read_api):
    _relink_from(7)
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 10" in err and "checkpoint" in err
    body = read_api.get("/api/v1/verify").json()
    assert (body["valid"], body["first_bad_seq"]) == (False, 10)
    # Without a checkpoint after the change, a relinked chain is internally consistent: that is
    # what checkpoints (and exporting them) are for.
    assert chain_verify(to_seq=9).valid


def test_removing_the_newest_events_and_moving_the_head_back_is_caught_by_a_checkpoint(twelve_events, read_api):
    as_superuser(
        "DELETE FROM audit_event WHERE seq >= 10",
        "UPDATE audit_chain_head SET seq = 9, hash = (SELECT hash FROM audit_event WHERE seq = 9)",
    )
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 10" in err and "checkpoint" in err
    body = read_api.get("/api/v1/verify").json()
    assert (body["valid"], body["first_bad_seq"]) == (False, 10)


def test_emptying_the_log_and_resetting_the_head_is_caught_by_a_checkpoint(twelve_events):
    as_superuser("DELETE FROM audit_event", ("UPDATE audit_chain_head SET seq = 0, hash = %s", [bytes(32)]))
    result = chain_verify()
    assert (result.valid, result.first_bad_seq) == (False, 1)


def test_verification_starts_from_a_signed_checkpoint_once_the_oldest_events_are_gone(twelve_events, read_api):
    # What retention does: the oldest events go, the checkpoint at the cut stays.
    as_superuser("DELETE FROM audit_event WHERE seq <= 5")
    result = chain_verify()
    assert result.valid, result.as_dict()
    assert (result.from_seq, result.to_seq, result.checked) == (6, 12, 7)
    assert run_verify_chain()[0] == 0
    assert read_api.get("/api/v1/verify").json()["valid"] is True


def test_without_a_checkpoint_at_the_cut_the_remaining_events_are_not_trusted(twelve_events):
    as_superuser("DELETE FROM audit_event WHERE seq <= 4")
    result = chain_verify()
    assert (result.valid, result.first_bad_seq) == (False, 5)
    assert "no valid signed checkpoint covers #4" in result.reason


def test_a_forged_checkpoint_at_the_cut_is_not_trusted(twelve_events):
    as_superuser("DELETE FROM audit_event WHERE seq <= 5")
    as_superuser_on_checkpoints("UPDATE audit_checkpoint SET signature = sha256(signature) || sha256(hash) WHERE seq = 5")
    result = chain_verify()
    assert (result.valid, result.first_bad_seq) == (False, 6)


# --- on demand: the command and the periodic task --------------------------------------------------


def test_manage_py_checkpoint_signs_the_head(ingest):
    ingest(*make_events(7))
    out = StringIO()
    call_command("checkpoint", stdout=out)
    checkpoint = Checkpoint.objects.get()
    head = Event.objects.get(seq=7)
    assert (checkpoint.seq, bytes(checkpoint.hash), checkpoint.event_count) == (7, bytes(head.hash), 7)
    assert checkpoint.reason == Checkpoint.Reason.MANUAL
    assert checkpoint_signature_valid(checkpoint)
    assert f"checkpoint at seq 7: {head.hash_hex}" in out.getvalue()

    # Run again with nothing new: the same checkpoint, not a second one.
    call_command("checkpoint", stdout=StringIO())
    assert checkpoint_seqs() == [7]
    assert chain_verify().checkpoints_checked == 1


def test_manage_py_checkpoint_on_an_empty_log_signs_nothing():
    out = StringIO()
    call_command("checkpoint", stdout=out)
    assert "nothing to sign" in out.getvalue()
    assert checkpoint_seqs() == []


def test_an_interval_checkpoint_at_the_head_is_not_signed_twice(every_five, ingest):
    ingest(*make_events(5))
    assert checkpoint_create().seq == 5
    assert Checkpoint.objects.get().reason == Checkpoint.Reason.INTERVAL


def test_the_periodic_task_signs_the_head_when_called_directly(ingest):
    assert tasks.checkpoint_periodic(timestamp=0) is None  # nothing to sign yet
    ingest(*make_events(3))
    assert tasks.checkpoint_periodic(timestamp=0) == 3
    checkpoint = Checkpoint.objects.get()
    assert checkpoint.reason == Checkpoint.Reason.INTERVAL and checkpoint_signature_valid(checkpoint)
    assert tasks.checkpoint_periodic(timestamp=0) == 3
    ingest(*make_events(2, "later"))
    assert tasks.checkpoint_periodic(timestamp=0) == 5
    assert checkpoint_seqs() == [3, 5]
    assert chain_verify().checkpoints_checked == 2


# --- the signing key ---------------------------------------------------------------------------


@pytest.fixture
def fresh_key(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "signing_key"
    signing.private_key.cache_clear()
    yield settings.AUDIT_SIGNING_KEY_FILE
    signing.private_key.cache_clear()


def test_a_development_key_is_generated_once_with_owner_only_permissions(fresh_key):
    first = signing.public_key_raw()
    assert fresh_key.stat().st_mode & 0o777 == 0o600
    signing.private_key.cache_clear()
    assert signing.public_key_raw() == first  # a restart signs with the same key


def test_servers_starting_together_agree_on_one_generated_key(fresh_key):
    keys, errors = [], []
    start = threading.Barrier(8)

    def load() -> None:
        try:
            start.wait()
            keys.append(signing._load_seed())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(set(keys)) == 1
    assert base64.b64decode(fresh_key.read_text()) == keys[0]


def test_a_configured_key_is_the_one_that_signs(settings):
    seed = bytes(range(32))
    settings.AUDIT_SIGNING_KEY = base64.b64encode(seed).decode()
    signing.private_key.cache_clear()
    try:
        expected = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        assert signing.public_key_raw() == signing.public_key_raw(expected)
        expected.verify(signing.sign(b"message"), b"message")
    finally:
        signing.private_key.cache_clear()


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(bytes(31)).decode()])
def test_a_malformed_key_is_refused_with_a_clear_error(settings, value):
    settings.AUDIT_SIGNING_KEY = value
    signing.private_key.cache_clear()
    try:
        with pytest.raises(signing.SigningKeyError, match="AUDIT_SIGNING_KEY"):
            signing.private_key()
    finally:
        signing.private_key.cache_clear()


# --- addresses are hashed as PostgreSQL spells them -------------------------------------------------


def _addresses() -> list[str]:
    rng = random.Random(5952)
    fixed = ["0.0.0.0", "255.255.255.255", "::", "::1", "::2", "::ffff:0.0.0.0", "::ffff:1.2.3.4", "::1.2.3.4",
             "::0.1.0.0", "::0.0.1.0", "::ffff:0:1", "64:ff9b::1.2.3.4", "1::", "1:0:0:1::", "1::1:0:0:1",
             "fe80::1:0:0:0:1", "2001:db8:0:0:1:0:0:1", "2001:db8::", "0:0:0:0:0:1:0:0", "::ffff:ffff:ffff"]
    generated = []
    for _ in range(300):
        # Mostly-zero groups, so every zero-run length and position, and the IPv4 forms, occur.
        words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(0x10000)]) for _ in range(8)]
        generated.append(str(ipaddress.IPv6Address(b"".join(w.to_bytes(2, "big") for w in words))))
    generated += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(20)]
    return fixed + generated


def test_addresses_are_hashed_in_postgresqls_spelling_whatever_python_prints():
    addresses = _addresses()
    with connection.cursor() as cursor:
        cursor.execute("SELECT a::inet FROM unnest(%s::text[]) WITH ORDINALITY AS t(a, n) ORDER BY n", [addresses])
        spelled = [row[0] for row in cursor.fetchall()]
    for address, postgres in zip(addresses, spelled):
        assert format_ip(address) == postgres, address
        assert format_ip(postgres) == postgres


@pytest.mark.django_db(transaction=True)
def test_the_periodic_task_signs_the_head_as_the_worker_runs_it(settings):
    # The worker calls it outside any transaction, after the connection may have gone stale.
    settings.AUDIT_CHECKPOINT_EVERY = 0
    event_ingest(make_events(4))
    assert tasks.checkpoint_periodic(timestamp=0) == 4
    assert Checkpoint.objects.get().seq == 4
    assert chain_verify().valid
