"""Checkpoints witnessed outside the database close the tail after the last checkpoint: deleting
the newest events and rewinding the chain head passes verify_chain, not verify_chain --witness."""
from __future__ import annotations

import json

import pytest
from django.db import connection
from procrastinate.contrib.django import app

from apps.events import tasks
from apps.events.models import Checkpoint
from apps.events.witness import WITNESS_FILE, witness_publish
from tests.factories import as_superuser, make_events, run_verify_chain, as_owner

pytestmark = pytest.mark.django_db


@pytest.fixture
def witness_dir(settings, tmp_path):
    settings.AUDIT_WITNESS_DIR = str(tmp_path / "witness")
    return tmp_path / "witness"


def witnessed(witness_dir) -> list[dict]:
    return [json.loads(line) for line in (witness_dir / WITNESS_FILE).read_text().splitlines()]


def test_the_worker_appends_each_new_signed_checkpoint_to_the_witness(witness_dir, ingest):
    ingest(*make_events(3))
    tasks.checkpoint_periodic(timestamp=0)
    ingest(*make_events(2, "later"))
    tasks.checkpoint_periodic(timestamp=0)
    tasks.checkpoint_periodic(timestamp=0)  # nothing new: nothing appended

    lines = witnessed(witness_dir)
    assert [line["seq"] for line in lines] == [3, 5]
    assert lines[1]["hash"] == "sha256:" + bytes(Checkpoint.objects.get(seq=5).hash).hex()
    assert {"signature", "key_id", "event_count", "created_at"} <= set(lines[0])


def test_the_witness_file_is_only_appended_to(witness_dir, ingest):
    ingest(*make_events(2))
    tasks.checkpoint_periodic(timestamp=0)
    first = (witness_dir / WITNESS_FILE).read_bytes()
    ingest(*make_events(2, "more"))
    tasks.checkpoint_periodic(timestamp=0)

    assert (witness_dir / WITNESS_FILE).read_bytes().startswith(first)


def test_a_rewound_head_passes_verify_chain_but_not_verify_chain_with_the_witness(witness_dir, ingest):
    ingest(*make_events(5))
    tasks.checkpoint_periodic(timestamp=0)
    ingest(*make_events(3, "tail"))
    tasks.checkpoint_periodic(timestamp=0)
    # The attacker deletes the three newest events and their checkpoint, and rewinds the head.
    # (As a superuser restoring a database would: with no triggers firing.)
    with as_owner() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM audit_event WHERE seq > 5")
        cursor.execute("DELETE FROM audit_checkpoint WHERE seq > 5")
        cursor.execute("UPDATE audit_chain_head SET seq = 5, hash = (SELECT hash FROM audit_event WHERE seq = 5)")
        cursor.execute("SET session_replication_role = DEFAULT")

    assert run_verify_chain()[0] == 0
    code, _, err = run_verify_chain("--witness")
    assert code == 1
    assert "rewound" in err and "seq 8" in err


def test_a_rewritten_witnessed_event_fails_the_witness_check(witness_dir, ingest):
    ingest(*make_events(4))
    tasks.checkpoint_periodic(timestamp=0)
    as_superuser("UPDATE audit_event SET hash = decode(repeat('ab', 32), 'hex') WHERE seq = 4")

    code, _, err = run_verify_chain("--witness")

    assert code == 1
    assert "seq 4" in err


def test_an_intact_chain_matches_its_witness(witness_dir, ingest):
    ingest(*make_events(4))
    tasks.checkpoint_periodic(timestamp=0)
    ingest(*make_events(1, "after"))  # not yet witnessed: the tail is seconds long

    code, out, _ = run_verify_chain("--witness", str(witness_dir))

    assert code == 0
    assert "1 witnessed checkpoints match" in out


def test_a_forged_witness_line_is_refused(witness_dir, ingest):
    ingest(*make_events(2))
    tasks.checkpoint_periodic(timestamp=0)
    lines = witnessed(witness_dir)
    lines[0]["event_count"] = 99
    (witness_dir / WITNESS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))

    code, _, err = run_verify_chain("--witness")

    assert code == 1
    assert "signature" in err


def test_the_head_is_checkpointed_every_few_seconds(settings):
    periodic = {task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()}

    assert periodic["apps.events.tasks.checkpoint_periodic"] == f"* * * * * */{settings.AUDIT_CHECKPOINT_SECONDS}"
    assert settings.AUDIT_CHECKPOINT_SECONDS <= 10


def test_publishing_without_a_witness_directory_does_nothing(settings, ingest):
    settings.AUDIT_WITNESS_DIR = ""
    ingest(*make_events(1))

    assert witness_publish() == 0
