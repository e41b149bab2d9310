"""Checkpoints published outside the database: an append-only witness file.

A signed checkpoint kept only in the database protects nothing newer than itself, and an
attacker who can write to the database can delete the newest events, their checkpoints, and
rewind the chain head: what is left verifies. So every checkpoint is also appended, as one line
of JSON (the signed message and its signature), to `checkpoints.jsonl` in AUDIT_WITNESS_DIR: a
directory on another filesystem, host or mount (append-only with `chattr +a`, a WORM mount, or a
directory synced to object storage with Object Lock). The file is only ever appended to.

`manage.py verify_chain --witness` reads it back: each witnessed checkpoint's signature must
verify, its seq must still be in the chain (a head behind it means the chain was rewound), and
the event at that seq must still carry the witnessed hash. The worker publishes every few
seconds (apps.events.tasks.checkpoint_periodic, AUDIT_CHECKPOINT_SECONDS), so the unwitnessed
tail of the log is seconds long.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.db import connection

from apps.events import signing
from apps.events.chain import checkpoint_message, format_time, hash_label
from apps.events.models import Checkpoint

WITNESS_FILE = "checkpoints.jsonl"


def witness_path(directory: str | Path | None = None) -> Path | None:
    """The witness file in `directory`, else in settings.AUDIT_WITNESS_DIR; None when there is none."""
    directory = directory or settings.AUDIT_WITNESS_DIR
    return Path(directory) / WITNESS_FILE if directory else None


def _line(checkpoint: Checkpoint) -> str:
    return json.dumps({
        "seq": checkpoint.seq,
        "hash": hash_label(bytes(checkpoint.hash)),
        "event_count": checkpoint.event_count,
        "created_at": format_time(checkpoint.created_at),
        "key_id": checkpoint.key_id,
        "signature": base64.b64encode(bytes(checkpoint.signature)).decode(),
    }, sort_keys=True) + "\n"


def witness_read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def witness_publish(directory: str | Path | None = None) -> int:
    """Append every checkpoint the witness has not seen yet (seq above its last); how many.

    Under an exclusive lock on the file, so two workers never interleave or repeat lines.
    """
    path = witness_path(directory)
    if path is None:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        last = 0
        for line in file:
            if line.strip():
                last = max(last, json.loads(line)["seq"])
        fresh = list(Checkpoint.objects.filter(seq__gt=last).order_by("seq"))
        for checkpoint in fresh:
            file.write(_line(checkpoint))
        file.flush()
        os.fsync(file.fileno())
    return len(fresh)


@dataclass
class WitnessCheck:
    valid: bool = True
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def witness_check(directory: str | Path | None = None) -> WitnessCheck:
    """Compare the chain with what the witness saw (see the module docstring)."""
    path = witness_path(directory)
    result = WitnessCheck()
    if path is None or not path.exists():
        return WitnessCheck(valid=False, problems=[f"no witness file at {path or '(AUDIT_WITNESS_DIR unset)'}"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM audit_chain_head WHERE id = 1")
        row = cursor.fetchone()
        head = row[0] if row else 0
        cursor.execute("SELECT min(seq) FROM audit_event")
        oldest = cursor.fetchone()[0]
        for entry in witness_read(path):
            result.checked += 1
            seq, problem = entry["seq"], None
            if not _signature_valid(entry):
                problem = f"the witnessed checkpoint at seq {seq} does not carry a valid signature"
            elif seq > head:
                problem = (f"the chain was rewound: the witness saw seq {seq} ({entry['hash']}) but the chain head "
                           f"is at seq {head}")
            else:
                cursor.execute("SELECT hash FROM audit_event WHERE seq = %s", [seq])
                stored = cursor.fetchone()
                if stored is None and (oldest is None or seq >= oldest):
                    problem = f"the witnessed event at seq {seq} is missing from the chain"
                elif stored is not None and hash_label(bytes(stored[0])) != entry["hash"]:
                    problem = (f"the event at seq {seq} no longer has the witnessed hash {entry['hash']}; "
                               f"the chain was rewritten")
            if problem:
                result.valid = False
                result.problems.append(problem)
    return result


def _signature_valid(entry: dict) -> bool:
    if entry.get("key_id") != signing.key_id():
        return False
    message = checkpoint_message(
        seq=entry["seq"], hash=bytes.fromhex(entry["hash"].removeprefix("sha256:")), event_count=entry["event_count"],
        created_at=datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00")), key_id=entry["key_id"],
    )
    try:
        signing.public_key().verify(base64.b64decode(entry["signature"]), message)
    except (InvalidSignature, ValueError):
        return False
    return True
