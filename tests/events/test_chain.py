"""The hash chain: gapless appends under concurrency, append-only at the database, tamper
detection by `manage.py verify_chain` and `GET /api/v1/verify`, and hashes an auditor can
recompute with nothing but hashlib and an RFC 8785 package."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime, timezone as dt_timezone

import pytest
import rfc8785
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from apps.events import chain_verification
from apps.events.chain import CONTENT_FIELDS, GENESIS, chain_append, content_of, event_hash
from apps.events.chain_verification import chain_verify
from apps.events.ingest import event_ingest
from apps.events.models import ChainHead, Event
from apps.events.schema import normalize_event
from tests.factories import ApiClient, as_superuser, make_events, run_verify_chain, stored_seqs, as_owner

pytestmark = pytest.mark.django_db


# --- helpers ---------------------------------------------------------------------------------


def _stored_row(seq: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(CONTENT_FIELDS)} FROM audit_event WHERE seq = %s", [seq])
        return dict(zip(CONTENT_FIELDS, cursor.fetchone()))


@pytest.fixture
def ten_events(ingest):
    ingest(*make_events(10))
    assert stored_seqs() == list(range(1, 11))


@pytest.fixture
def verify_api(read_api):
    def get(**params):
        response = read_api.get("/api/v1/verify", {k: v for k, v in params.items() if v is not None})
        assert response.status_code == 200, response.content
        return response.json()

    return get


# --- appending -------------------------------------------------------------------------------


def test_the_first_event_links_to_32_zero_bytes(ingest):
    body = ingest(*make_events(1))
    first = Event.objects.get(seq=1)
    assert bytes(first.prev_hash) == bytes(32) == GENESIS
    assert body["events"][0]["hash"] == first.hash_hex == "sha256:" + bytes(first.hash).hex()


def test_each_event_names_the_previous_events_hash_as_its_prev_hash(ingest):
    ingest(*make_events(3, "a"))
    ingest(*make_events(4, "b"))
    events = list(Event.objects.order_by("seq"))
    for before, after in zip(events, events[1:]):
        assert bytes(after.prev_hash) == bytes(before.hash)
    head = ChainHead.objects.get()
    assert (head.seq, bytes(head.hash)) == (7, bytes(events[-1].hash))


def test_seq_is_gapless_and_a_repeated_event_id_takes_no_seq(ingest):
    first = ingest(*make_events(3))
    again = ingest(*make_events(4))  # evt-1..3 again, and one new event
    assert [item["status"] for item in again["events"]] == ["duplicate"] * 3 + ["created"]
    assert again["duplicates"] == 3 and again["accepted"] == 1
    # A duplicate reports the seq and hash it was stored with the first time.
    assert [(e["seq"], e["hash"]) for e in again["events"][:3]] == [(e["seq"], e["hash"]) for e in first["events"]]
    assert again["events"][3]["seq"] == 4
    assert stored_seqs() == [1, 2, 3, 4]
    assert chain_verify().valid


def test_an_event_id_repeated_inside_one_batch_is_stored_once(ingest):
    body = ingest(*make_events(2), *make_events(1))
    assert [item["status"] for item in body["events"]] == ["created", "created", "duplicate"]
    assert body["events"][2]["seq"] == body["events"][0]["seq"] == 1
    assert stored_seqs() == [1, 2]


def test_the_hashes_the_ingest_api_answers_are_the_stored_ones(ingest):
    body = ingest(*make_events(5))
    stored = {event.event_id: (event.seq, event.hash_hex) for event in Event.objects.all()}
    assert {item["event_id"]: (item["seq"], item["hash"]) for item in body["events"]} == stored


def _append_dated(raw: dict, when: datetime) -> None:
    """Append an event dated outside what ingest accepts (before 1970), as a log written before
    that range was enforced holds it: straight to the chain."""
    event = normalize_event(raw)
    event["occurred_at"] = when
    chain_append([event])


def test_tags_and_times_are_stored_exactly_as_sent_and_hashed():
    tags = ['a"b', "c\\d", "e,f", "{g}", "", "NULL", " spaced ", "é中😀"]
    _append_dated(make_events(1, tags=tags)[0], datetime(999, 12, 31, 22, 59, 59, 1, tzinfo=dt_timezone.utc))
    event = Event.objects.get(seq=1)
    assert event.tags == tags
    assert event.occurred_at == datetime(999, 12, 31, 22, 59, 59, 1, tzinfo=dt_timezone.utc)
    assert chain_verify().valid


def test_a_refused_batch_consumes_no_seq(ingest, ingest_api):
    ingest(*make_events(2))
    bad = make_events(3, "bad")
    bad[1]["action"] = "Not An Action!"
    assert ingest_api.post("/api/v1/events", {"events": bad}).status_code == 400
    ingest(*make_events(1, "next"))
    assert stored_seqs() == [1, 2, 3]
    assert chain_verify().valid


WRITERS = 8
BATCHES = 5
BATCH_SIZE = 20


def _run_writers(worker, count: int = WRITERS) -> list[BaseException]:
    """Run `worker(index)` in `count` threads that start together; each uses its own connection."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            worker(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung (lock never released?)"
    return errors


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_produce_one_gapless_verified_chain(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 50  # signed checkpoints are written while writers race
    answers: dict[int, list] = {}

    def writer(index: int) -> None:
        answers[index] = []
        for batch in range(BATCHES):
            events = make_events(BATCH_SIZE, f"w{index}-b{batch}")
            if batch == 0:
                # Every writer also sends the same event: it must be stored exactly once.
                events += make_events(1, "shared")
            answers[index].append(event_ingest(events).appended)

    errors = _run_writers(writer)
    assert not errors, errors

    total = WRITERS * BATCHES * BATCH_SIZE + 1
    assert stored_seqs() == list(range(1, total + 1))
    sent = {f"w{w}-b{b}-{i}" for w in range(WRITERS) for b in range(BATCHES) for i in range(1, BATCH_SIZE + 1)}
    assert set(Event.objects.values_list("event_id", flat=True)) == sent | {"shared-1"}

    stored = {event_id: (seq, bytes(digest)) for event_id, seq, digest in Event.objects.values_list("event_id", "seq", "hash")}
    shared = []
    for batches in answers.values():
        for appended in batches:
            created = [item for item in appended if not item.duplicate]
            # A batch is appended under one lock: its new events hold consecutive seqs.
            assert [item.seq for item in created] == list(range(created[0].seq, created[0].seq + len(created)))
            for item in appended:
                assert stored[item.event_id] == (item.seq, item.hash)
            shared += [item for item in appended if item.event_id == "shared-1"]
    assert len(shared) == WRITERS
    assert sum(not item.duplicate for item in shared) == 1

    result = chain_verify()
    assert result.valid, result.as_dict()
    assert result.checked == total
    assert result.checkpoints_checked == total // 50
    assert ChainHead.objects.get().seq == total


@pytest.mark.django_db(transaction=True)
def test_verifying_while_writers_append_never_reports_a_false_break():
    results = []
    done = threading.Event()

    def verifier() -> None:
        # Inside a caller's transaction (as a console view that records its own audit event
        # would be), chain_verify cannot take its own snapshot; it must still be consistent.
        while not done.is_set():
            with transaction.atomic():
                results.append(chain_verify().as_dict())
            results.append(chain_verify().as_dict())

    def worker(index: int) -> None:
        if index == 0:
            verifier()
            return
        try:
            for batch in range(BATCHES * 6):
                event_ingest(make_events(5, f"w{index}-b{batch}"))
        finally:
            if index == 1:
                done.set()

    errors = _run_writers(worker, count=4)
    assert not errors, errors
    assert results
    broken = [result for result in results if not result["valid"]]
    assert not broken, broken[:3]
    assert chain_verify().valid


# --- long walks in parallel parts, each in a process and on a connection of its own -------------


@pytest.fixture
def short_walks_are_long(monkeypatch):
    """Make a few dozen events a long walk: cut into parts of 10 events or more."""
    monkeypatch.setattr(chain_verification, "PARALLEL_MIN_EVENTS", 10)


def walks() -> list[dict]:
    """The walk in one part, in three parallel parts, and inside a caller's transaction (one
    connection, a server-side cursor): they must always agree."""
    found = [chain_verify(workers=1).as_dict(), chain_verify(workers=3).as_dict()]
    with transaction.atomic():
        found.append(chain_verify(workers=3).as_dict())
    return found


@pytest.mark.django_db(transaction=True)
def test_a_walk_in_parallel_parts_verifies_an_intact_chain_like_one_walk(short_walks_are_long):
    event_ingest(make_events(60))
    one, parallel, nested = walks()
    assert one["valid"] and one["checked"] == 60
    assert parallel == one == nested


@pytest.mark.django_db(transaction=True)
def test_a_walk_in_parallel_parts_names_the_first_break_even_when_a_later_part_breaks_too(short_walks_are_long):
    event_ingest(make_events(60))
    # Parts of 20: #27 lies in the second, #45 in the third.
    as_superuser("UPDATE audit_event SET actor_id = 'mallory' WHERE seq = 45",
                 "UPDATE audit_event SET description = 'nothing to see' WHERE seq = 27")
    one, parallel, nested = walks()
    assert (one["valid"], one["first_bad_seq"]) == (False, 27)
    assert parallel == one == nested


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("missing", [20, 21, 40, 60])
def test_a_walk_in_parallel_parts_names_an_event_missing_at_a_part_boundary(short_walks_are_long, missing):
    event_ingest(make_events(60))
    as_superuser(f"DELETE FROM audit_event WHERE seq = {missing}")
    one, parallel, nested = walks()
    assert not one["valid"] and one["first_bad_seq"] == missing
    assert parallel == one == nested


@pytest.mark.django_db(transaction=True)
def test_a_long_walk_reads_one_snapshot_while_writers_append(short_walks_are_long):
    event_ingest(make_events(40))
    results, done = [], threading.Event()

    def worker(index: int) -> None:
        if index == 0:
            while not done.is_set():
                results.append(chain_verify(workers=3).as_dict())
            return
        try:
            for batch in range(12):
                event_ingest(make_events(7, f"w{index}-b{batch}"))
        finally:
            done.set()

    errors = _run_writers(worker, count=2)
    assert not errors, errors
    assert results and all(result["valid"] for result in results), [r for r in results if not r["valid"]][:2]
    assert chain_verify(workers=3).checked == 40 + 12 * 7


def _part_that_dies(job):
    os._exit(1)  # as a verification child killed by the kernel (out of memory) would end


def test_a_verification_process_that_dies_leaves_the_walk_to_one_process_not_a_failure(short_walks_are_long,
                                                                                    monkeypatch):
    event_ingest(make_events(40))
    monkeypatch.setattr(chain_verification, "_verify_part", _part_that_dies)
    result = chain_verify(workers=3)
    assert result.valid and result.checked == 40


# --- append-only at the database ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_event SET actor_id = 'mallory' WHERE seq = 2",
        "UPDATE audit_event SET hash = prev_hash",
        "DELETE FROM audit_event WHERE seq = 2",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "TRUNCATE audit_event CASCADE",
    ],
)
@pytest.mark.parametrize("role", ["the console's role", "the owner"])
def test_the_database_refuses_to_change_or_remove_events(ten_events, sql, role):
    before = list(Event.objects.order_by("seq").values_list("seq", "actor_id", "hash"))
    # The console's role holds no such privilege (README, Database roles); the owner, who does,
    # meets the append-only triggers (PL/pgSQL's RAISE arrives as a DatabaseError subclass).
    refusal = "permission denied" if role == "the console's role" else "append-only|Cannot (update|delete)"
    with pytest.raises(DatabaseError, match=refusal):
        with transaction.atomic(), (as_owner() if role == "the owner" else connection.cursor()) as cursor:
            cursor.execute(sql)
    assert list(Event.objects.order_by("seq").values_list("seq", "actor_id", "hash")) == before
    assert chain_verify().valid


def test_the_orm_cannot_update_or_delete_events(ten_events):
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            Event.objects.filter(seq=5).update(actor_id="mallory")
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            Event.objects.filter(seq__gte=5).delete()
    event = Event.objects.get(seq=5)
    event.actor_id = "mallory"
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            event.save()
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            Event.objects.get(seq=6).delete()
    assert Event.objects.get(seq=5).actor_id == "user-5"
    assert stored_seqs() == list(range(1, 11))
    assert chain_verify().valid


def test_a_session_setting_cannot_switch_the_append_only_triggers_off(ten_events):
    # django-pgtrigger's triggers obey `pgtrigger.ignore`, which any writer may set; ours must not.
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(tgname) FROM pg_trigger WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal")
        (triggers,) = cursor.fetchone()
    with pytest.raises(DatabaseError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(triggers) + "}"])
            cursor.execute("UPDATE audit_event SET actor_id = 'mallory' WHERE seq = 5")
    assert Event.objects.get(seq=5).actor_id == "user-5"


# --- verification ------------------------------------------------------------------------------


def test_an_intact_chain_verifies_on_the_command_line_and_the_api(ten_events, verify_api):
    code, out, err = run_verify_chain()
    assert code == 0 and err == ""
    assert "chain intact: 10 events #1..#10" in out
    body = verify_api()
    assert body["valid"] is True and body["first_bad_seq"] is None
    assert body["checked"] == 10
    assert body["last_hash"] == Event.objects.get(seq=10).hash_hex


def test_an_empty_log_verifies(verify_api):
    code, out, _ = run_verify_chain()
    assert code == 0 and "no events" in out
    assert verify_api()["valid"] is True


def test_the_verify_api_needs_a_read_token(ten_events, ingest_api):
    assert ApiClient().get("/api/v1/verify").status_code == 401
    assert ingest_api.get("/api/v1/verify").status_code == 403


def test_a_row_changed_with_triggers_disabled_is_named_at_exactly_its_seq(ten_events, verify_api):
    as_superuser("UPDATE audit_event SET actor_id = 'mallory' WHERE seq = 5")
    code, _, err = run_verify_chain()
    assert code == 1
    assert "seq 5" in err and "do not match the event's hash" in err
    body = verify_api()
    assert body["valid"] is False and body["first_bad_seq"] == 5


def test_a_row_deleted_from_the_middle_is_named_as_missing(ten_events, verify_api):
    as_superuser("DELETE FROM audit_event WHERE seq = 5")
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 5" in err and "#5 is missing" in err
    body = verify_api()
    assert (body["valid"], body["first_bad_seq"]) == (False, 5) and "missing" in body["reason"]


def test_a_deleted_first_event_is_reported(ten_events):
    as_superuser("DELETE FROM audit_event WHERE seq = 1")
    result = chain_verify()
    assert not result.valid and result.first_bad_seq == 2
    assert "no valid signed checkpoint" in result.reason


def test_a_changed_metadata_value_is_detected(ten_events, verify_api):
    as_superuser("""UPDATE audit_event SET metadata = jsonb_set(metadata, '{ticket}', '"CHG-0"') WHERE seq = 5""")
    assert Event.objects.get(seq=5).metadata["ticket"] == "CHG-0"
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 5" in err
    assert verify_api()["first_bad_seq"] == 5


def test_a_changed_hash_is_detected(ten_events, verify_api):
    as_superuser("UPDATE audit_event SET hash = sha256(hash) WHERE seq = 5")
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 5" in err
    assert verify_api()["first_bad_seq"] == 5


def test_a_deleted_tail_event_no_longer_matches_the_chain_head(ten_events, verify_api):
    as_superuser("DELETE FROM audit_event WHERE seq = 10")
    code, _, err = run_verify_chain()
    assert code == 1 and "seq 10" in err and "chain head" in err
    body = verify_api()
    assert body["valid"] is False and body["first_bad_seq"] == 10


def test_an_event_appended_without_moving_the_chain_head_is_detected(ten_events):
    # INSERT is allowed: a forged #11 with a correct hash, copied from #10, head left alone.
    prev = bytes(Event.objects.get(seq=10).hash)
    forged_hash = event_hash(prev, dict(content_of(_stored_row(10)), seq=11, event_id="forged"))
    select = ", ".join("%s" if name in ("seq", "event_id") else name for name in CONTENT_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_event ({', '.join(CONTENT_FIELDS)}, prev_hash, hash)"
            f" SELECT {select}, %s, %s FROM audit_event WHERE seq = 10",
            [11, "forged", prev, forged_hash],
        )
    result = chain_verify()
    # The forged event's own hash is right; only the head gives it away.
    assert (result.valid, result.first_bad_seq) == (False, 11) and "chain head" in result.reason


def test_a_prev_hash_relinked_past_a_deleted_event_is_detected(ten_events, verify_api):
    # Remove #5 and point #6 at #4, as someone hiding an event would.
    as_superuser(
        "DELETE FROM audit_event WHERE seq = 5",
        "UPDATE audit_event SET prev_hash = (SELECT hash FROM audit_event WHERE seq = 4) WHERE seq = 6",
    )
    body = verify_api()
    assert body["valid"] is False and body["first_bad_seq"] == 5 and "missing" in body["reason"]


def test_a_prev_hash_pointing_elsewhere_is_detected(ten_events):
    as_superuser("UPDATE audit_event SET prev_hash = (SELECT hash FROM audit_event WHERE seq = 4) WHERE seq = 6")
    result = chain_verify()
    assert (result.valid, result.first_bad_seq) == (False, 6)
    assert "prev_hash" in result.reason


@pytest.mark.parametrize(
    ("column", "new_value"),
    [
        ("event_id", "'evt-forged'"),
        ("occurred_at", "occurred_at + interval '1 microsecond'"),
        ("received_at", "received_at - interval '1 day'"),
        ("action", "'auth.login'"),
        ("category", "'audit'"),
        ("outcome", "'failure'"),
        ("severity", "'critical'"),
        ("actor_email", "'mallory@example.com'"),
        ("ip_address", "'203.0.113.8'"),
        ("ip_address", "NULL"),
        ("user_agent", "'x'"),
        ("resource_id", "'role-9'"),
        ("project", "'beta'"),
        ("status_code", "500"),
        ("tags", "array_append(tags, 'x')"),
        ("tags", "ARRAY['pci', 'prod']"),
        ("description", "description || ' '"),
        ("changes", "NULL"),
        ("changes", """'{"before": {"role": "viewer"}, "after": {"role": "owner"}}'"""),
        ("metadata", """metadata || '{"injected": true}'"""),
        ("metadata", """jsonb_set(metadata, '{nested,n,0}', '1.5')"""),
    ],
)
def test_a_change_to_any_stored_field_is_detected(ten_events, column, new_value):
    as_superuser(f"UPDATE audit_event SET {column} = {new_value} WHERE seq = 7")
    result = chain_verify()
    assert (result.valid, result.first_bad_seq) == (False, 7), result.as_dict()


def test_rewriting_a_row_with_equal_values_is_not_reported(ten_events):
    # jsonb and inet keep values, not the bytes sent; the hash covers values, so an identity
    # rewrite (a VACUUM FULL, a dump and restore) must not look like tampering.
    as_superuser("UPDATE audit_event SET metadata = metadata::text::jsonb, ip_address = host(ip_address)::inet")
    assert chain_verify().valid


def test_a_range_is_verified_from_the_stored_hash_before_it(ten_events, verify_api):
    as_superuser("UPDATE audit_event SET actor_id = 'mallory' WHERE seq = 8")
    assert run_verify_chain("--from-seq", "3", "--to-seq", "7")[0] == 0
    assert "5 events #3..#7" in run_verify_chain("--from-seq", "3", "--to-seq", "7")[1]
    code, _, err = run_verify_chain("--from-seq", "3", "--to-seq", "9")
    assert code == 1 and "seq 8" in err
    assert run_verify_chain("--from-seq", "9")[0] == 0
    assert run_verify_chain("--to-seq", "7")[0] == 0
    assert run_verify_chain("--from-seq", "8", "--to-seq", "8")[0] == 1

    assert verify_api(from_seq=3, to_seq=7) | {"last_hash": None} == {
        "valid": True, "first_bad_seq": None, "reason": None, "checked": 5, "from_seq": 3, "to_seq": 7,
        "last_hash": None, "checkpoints_checked": 0,
    }
    assert verify_api(from_seq=3, to_seq=9)["first_bad_seq"] == 8
    assert verify_api(from_seq=9)["valid"] is True
    assert verify_api()["first_bad_seq"] == 8


def test_a_range_past_the_end_checks_nothing_and_says_so(ten_events, verify_api):
    body = verify_api(from_seq=50)
    assert body["valid"] is True and body["checked"] == 0


@pytest.mark.parametrize("params", [{"from_seq": "0"}, {"from_seq": "x"}, {"to_seq": "-1"}])
def test_the_verify_api_refuses_a_bad_range(ten_events, read_api, params):
    response = read_api.get("/api/v1/verify", params)
    assert response.status_code == 400
    assert response.json()["error"]


def test_a_range_starting_after_a_missing_event_names_it(ten_events):
    as_superuser("DELETE FROM audit_event WHERE seq = 4")
    result = chain_verify(from_seq=5)
    assert not result.valid and result.first_bad_seq == 5 and "#4 is missing" in result.reason


# --- numbers, addresses and times survive the round trip through PostgreSQL ---------------------


def test_events_with_any_json_numbers_verify(ingest):
    # jsonb keeps numbers as decimals and prints 1e16 as 10000000000000000, which reads back
    # as an integer past 2^53; the chain must still hash it as the number that was sent.
    numbers = {"ratio": 0.1, "one": 1.0, "big": 1e16, "bigger": 1.2345678901234567e20, "huge": 1e300,
               "tiny": 5e-324, "small": 1e-7, "negative": -1e21, "safe": 2**53 - 1, "neg_zero": -0.0,
               "pi": 3.141592653589793, "list": [1e22, 2.5, -3]}
    ingest(*make_events(2, "numbers", metadata=numbers, changes={"before": {"limit": 1e18}, "after": {"limit": 2e18}}))
    result = chain_verify()
    assert result.valid, result.as_dict()


def test_text_with_every_character_json_escapes_verifies_in_every_text_column(ingest):
    # Verification has PostgreSQL spell text fields as JSON (to_json) where ingest has Python
    # do it: both must escape exactly the same characters, in every column.
    tricky = "q\"uote \\ back\tslash\nnew\rline\b\f \x01\x1f\x7f /slash é 東京 \U0001f600 \u2028\u2029 \ue000"
    ingest(*make_events(
        2, "tricky",
        actor={"type": "user", "id": "id " + tricky, "name": "name " + tricky, "email": "e@example.com " + tricky},
        resource={"type": "type " + tricky, "id": "rid " + tricky, "name": "rname " + tricky},
        request={"method": "post", "path": "/p?" + tricky, "status_code": 201},
        user_agent="agent " + tricky, session_id="sess " + tricky, auth_method="sso " + tricky,
        project="proj " + tricky, region="region " + tricky, trace_id="trace " + tricky,
        request_id="req " + tricky, description="desc " + tricky, category="cat " + tricky,
        tags=["tag " + tricky, "{braces},commas"], metadata={"k " + tricky: "v " + tricky},
        changes={"before": {"t": tricky}, "after": {"t": tricky + "!"}},
    ))
    stored = _stored_row(1)
    assert tricky in stored["actor_name"] and tricky in stored["tags"][0]
    result = chain_verify()
    assert result.valid, result.as_dict()
    assert result.checked == 2
    # And a change to one escaped character is still caught.
    as_superuser(("UPDATE audit_event SET user_agent = replace(user_agent, E'\\x01', E'\\x02') WHERE seq = 2", None))
    assert chain_verify().first_bad_seq == 2


@pytest.mark.parametrize(
    "address",
    ["198.51.100.23", "2001:db8::1", "2001:DB8:0:0:1:0:0:1", "::ffff:192.0.2.128", "::192.0.2.128", "::1", "::",
     "fe80::1:0:0:0:1", "64:ff9b::192.0.2.33"],
)
def test_events_with_any_address_verify_and_hash_as_stored(ingest, read_api, address):
    ingest(*make_events(1, "ip", ip_address=address))
    assert chain_verify().valid
    _assert_auditor_reproduces_every_hash(read_api)


def test_events_from_long_ago_verify(ingest, read_api):
    _append_dated(make_events(1, "old")[0], datetime(999, 1, 2, 3, 4, 5, tzinfo=dt_timezone.utc))
    ingest(*make_events(1, "epoch", timestamp=0))
    assert chain_verify().valid
    _assert_auditor_reproduces_every_hash(read_api)


# --- an auditor recomputes the chain without our code -------------------------------------------


def _json_number(text: str):
    # I-JSON / RFC 8785: every JSON number is an IEEE double. Python reads integer spellings as
    # int; past 2^53 only the double is meant (that is how JavaScript would read it).
    value = int(text)
    return value if abs(value) < 2**53 else float(text)


def _utc(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt_timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def auditor_hash(prev_hash: bytes, log: dict) -> bytes:
    """SHA-256(prev_hash || RFC 8785(content)), content rebuilt from one event of the API."""
    actor, resource, request = log["actor"], log["resource"], log["request"]
    content = {
        "seq": log["verification"]["seq"],
        "event_id": log["event_id"],
        "occurred_at": _utc(log["occurred_at"]),
        "received_at": _utc(log["received_at"]),
        "action": log["action"],
        "category": log["category"],
        "outcome": log["outcome"],
        "severity": log["severity"],
        "actor_type": actor["type"],
        "actor_id": actor["id"],
        "actor_name": actor["name"],
        "actor_email": actor["email"],
        "auth_method": log["auth_method"],
        "ip_address": log["ip_address"],
        "user_agent": log["user_agent"],
        "session_id": log["session_id"],
        "resource_type": resource["type"],
        "resource_id": resource["id"],
        "resource_name": resource["name"],
        "project": log["project"],
        "region": log["region"],
        "request_method": request["method"],
        "request_path": request["path"],
        "status_code": request["status_code"],
        "trace_id": log["trace_id"],
        "request_id": log["request_id"],
        "tags": log["tags"],
        "description": log["description"],
        "changes": log["changes"],
        "metadata": log["metadata"],
    }
    return hashlib.sha256(prev_hash + rfc8785.dumps(content)).digest()


def _assert_auditor_reproduces_every_hash(read_api) -> None:
    listing = read_api.get("/api/v1/audit-logs", {"limit": 1000}).json()
    event_ids = [log["event_id"] for log in sorted(listing["audit_logs"], key=lambda log: log["verification"]["seq"])]
    prev = bytes(32)
    for event_id in event_ids:
        response = read_api.get(f"/api/v1/audit-logs/{event_id}")
        assert response.status_code == 200
        log = json.loads(response.content, parse_int=_json_number)
        assert log["verification"]["prev_hash"] == "sha256:" + prev.hex()
        digest = auditor_hash(prev, log)
        assert "sha256:" + digest.hex() == log["verification"]["hash"], log
        prev = digest


def test_an_auditor_reproduces_every_hash_from_the_api_with_hashlib_and_rfc8785(ingest, read_api):
    ingest(
        *make_events(3),
        {
            "event_id": "evt-unicode",
            "timestamp": "2026-03-10T14:30:45Z",  # whole seconds: the API omits the fraction
            "action": "data.export",
            "actor": {"type": "service", "id": "exporter", "name": "Exporter ☃ 東京 \U0001f600"},
            "resource": {"type": "bucket", "id": "b-1", "name": "naïve\u2028name"},
            "ip_address": "2001:db8::7",
            "request": {"method": "post", "path": "/v1/export?q=a&b=\"c\"", "status_code": 201},
            "description": "tabs\tand\nnewlines \\ and \"quotes\" and \x01 control",
            "tags": [],
            "metadata": {"\ue000key": 1, "\U0001f600key": 2, "z": None, "a": [], "b": {}, "float": 0.30000000000000004,
                         "big": 1e16, "emptystr": ""},
        },
        {"action": "auth.login", "actor": "alice@example.com"},  # server-made event_id, no timestamp
    )
    _assert_auditor_reproduces_every_hash(read_api)


def test_a_project_limited_token_may_not_learn_the_whole_chain(ten_events):
    from apps.rbac.tokens import token_issue
    from tests.factories import ApiClient

    api = ApiClient(token_issue(scope="read", projects=["p1"]).secret)
    for path in ("/api/v1/verify", "/api/v1/checkpoints"):
        response = api.get(path)
        assert response.status_code == 403
        assert "project-limited" in response.json()["error"]


def test_verify_chain_refuses_seq_numbers_below_one(ten_events):
    with pytest.raises(CommandError):
        call_command("verify_chain", "--to-seq", "0")


def test_a_lost_chain_head_row_resumes_from_the_last_event(ten_events):
    with as_owner() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_chain_head")
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    event_ingest([{"action": "auth.login", "event_id": "after-restore"}])
    assert stored_seqs() == list(range(1, 12))
    assert chain_verify().valid
