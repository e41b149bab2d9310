"""Checking an evidence pack (apps.reports.packs builds them): `pack_verify` needs nothing but
the ZIP and a trusted public key: no database, no network.

It checks the manifest's signature and every file's digest, and then what the files say about
the chain: each checkpoint's signature, each event's hash recomputed from its content, and that
a checkpoint at the seq of an event in the pack names that event's hash. (Apart from the
building so that what an auditor's check runs is short enough to read in one sitting.)
"""
from __future__ import annotations

import base64
import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.events import signing
from apps.events.canonical import canonical_json_text
from apps.events.chain import checkpoint_message
from apps.reports.packs import MANIFEST, SIGNATURE, key_fingerprint

_BLOCK = 1 << 20


class PackUnusable(ValueError):
    """The input is not something that can be checked at all (not a ZIP, no manifest, no key)."""


@dataclass
class PackVerification:
    problems: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    files_checked: int = 0
    events_checked: int = 0
    checkpoints_checked: int = 0
    checkpoints_anchoring: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def load_key(value) -> Ed25519PublicKey:
    """A trusted key given as an Ed25519PublicKey, or as PEM (or base64 of the raw bytes) text."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        return signing.load_public_key(value)
    except (ValueError, TypeError, signing.SigningKeyError) as error:
        raise PackUnusable(f"the public key is not a usable Ed25519 key: {error}") from None


def pack_verify(path, public_key) -> PackVerification:
    """Check a pack against a trusted key; every problem found is named in `problems`."""
    key = load_key(public_key)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise PackUnusable(f"{path} is not a readable ZIP file: {error}") from None
    with archive:
        names = [info.filename for info in archive.infolist()]
        if MANIFEST not in names:
            raise PackUnusable(f"{path} holds no {MANIFEST}: it is not an evidence pack")
        result = PackVerification()
        for name in sorted({n for n in names if names.count(n) > 1}):
            result.problems.append(f"duplicate entry: {name} appears more than once in the ZIP")
        manifest_bytes = _read(archive, MANIFEST)
        signature = _read(archive, SIGNATURE) if SIGNATURE in names else None
        if signature is None:
            result.problems.append(f"file missing: {SIGNATURE} (the manifest is not signed)")
        else:
            try:
                key.verify(signature, manifest_bytes)
            except InvalidSignature:
                result.problems.append(f"signature invalid: {SIGNATURE} does not verify {MANIFEST} with the given key")
        try:
            manifest = json.loads(manifest_bytes)
            files = manifest["files"]
            if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"{MANIFEST} is not a manifest of this console (not JSON, or no file list)")
            return result
        result.manifest = manifest
        expected = key_fingerprint(key)
        if manifest.get("public_key_fingerprint") != expected:
            named = manifest.get("public_key_fingerprint")
            result.problems.append(f"fingerprint mismatch: the manifest names key {named}, the given key is {expected}")
        present = set(names)
        for name in sorted(files):
            if name not in present:
                result.problems.append(f"file missing: {name}")
                continue
            digest, size = _digest(archive, name)
            result.files_checked += 1
            if digest != files[name].get("sha256") or size != files[name].get("size"):
                result.problems.append(f"file changed: {name} (its SHA-256 or size differs from the manifest)")
        for name in sorted(present - set(files) - {MANIFEST, SIGNATURE}):
            result.problems.append(f"extra file not in manifest: {name}")
        if not result.problems:
            # Only files the manifest vouches for are worth reading for what they say.
            _check_chain(archive, key, result)
    return result


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise PackUnusable(f"{name} cannot be read from the ZIP: {error}") from None


def _digest(archive: zipfile.ZipFile, name: str) -> tuple[str | None, int | None]:
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(name) as entry:
            for block in iter(lambda: entry.read(_BLOCK), b""):
                digest.update(block)
                size += len(block)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        return None, None  # damaged inside the ZIP (bad CRC, truncated): reported as changed
    return digest.hexdigest(), size


def _check_chain(archive: zipfile.ZipFile, key: Ed25519PublicKey, result: PackVerification) -> None:
    """Checkpoint signatures; each event's hash from its content; checkpoints against events."""
    anchors = {}
    if "checkpoints.json" in result.manifest["files"]:
        try:
            rows = json.loads(archive.read("checkpoints.json"))["checkpoints"]
            messages = [(row, checkpoint_message(
                seq=row["seq"], hash=bytes.fromhex(row["hash"].removeprefix("sha256:")),
                event_count=row["event_count"], key_id=row["key_id"],
                created_at=datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")))) for row in rows]
        except (ValueError, KeyError, TypeError, AttributeError):
            result.problems.append("checkpoints.json: not a list of checkpoints as the console writes them")
            return
        for row, message in messages:
            result.checkpoints_checked += 1
            try:
                key.verify(base64.b64decode(row["signature"]), message)
            except (InvalidSignature, ValueError):
                result.problems.append(f"checkpoint at seq {row['seq']}: its signature does not verify "
                                       f"with the given key")
                continue
            anchors[row["seq"]] = row["hash"]
    if "events.jsonl" not in result.manifest["files"]:
        return
    bad, previous = [], None
    with archive.open("events.jsonl") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                event = json.loads(line)
                chain = event["verification"]
                matches = event_hash_of(event) == chain["hash"]
            except (ValueError, KeyError, TypeError, AttributeError):
                result.problems.append(f"events.jsonl: line {number} is not an event as the console writes them")
                return
            result.events_checked += 1
            if not matches:
                bad.append(chain["seq"])
            if previous is not None and previous[0] == chain["seq"] - 1 and previous[1] != chain["prev_hash"]:
                result.problems.append(f"event seq {chain['seq']}: its prev_hash is not the hash of seq {previous[0]}")
            if chain["seq"] in anchors:
                result.checkpoints_anchoring += 1
                if anchors[chain["seq"]] != chain["hash"]:
                    result.problems.append(f"event seq {chain['seq']}: the signed checkpoint at that seq names "
                                           f"another hash")
            previous = (chain["seq"], chain["hash"])
    if bad:
        shown = ", ".join(str(seq) for seq in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        result.problems.append(f"events.jsonl: the hash of event seq {shown} does not match its content")


def event_hash_of(event: dict) -> str:
    """`sha256:<hex>` of an event as the API and events.jsonl show it, recomputed as the chain
    does: SHA-256(prev_hash || RFC 8785 JSON of every stored field but the hashes)."""
    actor, resource, request = event["actor"], event["resource"], event["request"]
    content = {
        "seq": event["verification"]["seq"], "event_id": event["event_id"],
        "occurred_at": event["occurred_at"], "received_at": event["received_at"],
        "action": event["action"], "category": event["category"], "outcome": event["outcome"],
        "severity": event["severity"], "actor_type": actor["type"], "actor_id": actor["id"],
        "actor_name": actor["name"], "actor_email": actor["email"], "auth_method": event["auth_method"],
        "ip_address": event["ip_address"], "user_agent": event["user_agent"], "session_id": event["session_id"],
        "resource_type": resource["type"], "resource_id": resource["id"], "resource_name": resource["name"],
        "project": event["project"], "region": event["region"], "request_method": request["method"],
        "request_path": request["path"], "status_code": request["status_code"], "trace_id": event["trace_id"],
        "request_id": event["request_id"], "tags": event["tags"], "description": event["description"],
        "changes": event["changes"], "metadata": event["metadata"],
    }
    # Through the chain's own decoder of stored JSON, so numbers are read as the chain reads them.
    _, content_bytes = canonical_json_text(json.dumps(content, ensure_ascii=False))
    prev_hash = bytes.fromhex(event["verification"]["prev_hash"].removeprefix("sha256:"))
    return "sha256:" + hashlib.sha256(prev_hash + content_bytes).hexdigest()
