"""Evidence packs: one signed ZIP that an auditor checks without trusting, or running, the console.

A pack holds the report's PDF, the slice of the log it covers (`events.jsonl`: every event of
the period its requester may see, oldest first, in the API's JSON shape), the figures, a
snapshot of the console's settings and of who holds which role, the framework's control
mapping, the chain's verification result, the signed checkpoints covering the period and, for
convenience only, the console's public key. `manifest.json` lists every other file with its
SHA-256 and size; `manifest.sig` is the raw 64-byte Ed25519 signature, by the key that signs
the chain's checkpoints, over the exact bytes of manifest.json (RFC 8785 JSON, so the bytes
are stable).

`pack_verify` needs nothing but the ZIP and a trusted public key: no database, no network. It
checks the manifest's signature and every file's digest, and then what the files say about the
chain: each checkpoint's signature, each event's hash recomputed from its content, and that a
checkpoint at the seq of an event in the pack names that event's hash.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.events import signing
from apps.events.canonical import canonical_json, canonical_json_text
from apps.events.chain import checkpoint_message, format_time
from apps.events.export import jsonl_chunks
from apps.events.query import parse_query
from apps.events.reads import event_export
from apps.reports.figures import subject_q
from apps.reports.frameworks_data import framework_as_dict
from apps.reports.models import Report, ReportType

FORMAT = "audit-console-evidence-pack/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CHECKPOINT_MESSAGE_FORMAT = ("RFC 8785 JSON of {seq, hash, event_count, created_at, key_id}, exactly as "
                             "listed here; signed with Ed25519 by the console's key")
# Events are read and written this many at a time, whatever the size of the period.
CHUNK = 2000
_BLOCK = 1 << 20


# --- building ----------------------------------------------------------------------------------


def pack_build(*, report: Report, figures: dict, pdf_path: Path | None, out_path: Path) -> Path:
    """Write the evidence pack of `report` to `out_path` (whole, or not at all)."""
    out_path = Path(out_path)
    partial = out_path.with_name(out_path.name + ".part")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            files, events = {}, _Tally()
            if pdf_path is not None:
                files["report.pdf"] = _write(archive, "report.pdf", _file_blocks(pdf_path), large=True)
            files["events.jsonl"] = _write(archive, "events.jsonl", _events_jsonl(report, events), large=True)
            framework = framework_as_dict(report.framework) if report.framework_id else None
            for name, value in (
                ("figures.json", figures),
                ("settings.json", settings_snapshot()),
                ("roles.json", roles_snapshot()),
                ("control-mapping.json", framework),
                ("verification.json", figures["verification"]),
                ("checkpoints.json", checkpoints_of(figures["verification"])),
            ):
                files[name] = _write(archive, name, [_readable_json(value)])
            files["public-key.pem"] = _write(archive, "public-key.pem", [signing.public_key_pem().encode()])
            manifest = canonical_json(_manifest(figures["report"], files, events=events.count))
            _write(archive, MANIFEST, [manifest])
            _write(archive, SIGNATURE, [signing.sign(manifest)])
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return out_path


@dataclass
class _Tally:
    count: int = 0


def _events_jsonl(report: Report, counter: _Tally) -> Iterator[bytes]:
    """The report's events, oldest first, as JSON Lines, read and encoded one chunk at a time."""
    principal = report.principal
    if principal is None:
        raise ValueError("the person who asked for this report no longer exists")

    def chunks():
        for events in event_export(principal=principal, filters=period_filter(report), order="oldest", chunk=CHUNK):
            counter.count += len(events)
            yield events

    for text in jsonl_chunks(chunks()):
        yield text.encode("utf-8")


def period_filter(report: Report) -> Q:
    """The events a report covers, as apps.reports.figures.period_events selects them (the
    requester's visibility is added by event_export): its period, its query and, for a user
    activity report, its subject.

    Spelled as one Q rather than taken from period_events because the export's keyset reads
    need the filter itself, not a queryset.
    """
    selected = Q(occurred_at__gte=report.period_start, occurred_at__lt=report.period_end)
    if report.query.strip():
        selected &= parse_query(report.query, now=report.period_end)
    if report.report_type == ReportType.USER_ACTIVITY and report.subject.strip():
        selected &= subject_q(report.subject)
    return selected


def _file_blocks(path: Path) -> Iterator[bytes]:
    with Path(path).open("rb") as handle:
        yield from iter(lambda: handle.read(_BLOCK), b"")


def _write(archive: zipfile.ZipFile, name: str, blocks: Iterable[bytes], *, large: bool = False) -> dict:
    """Write one entry, hashing what is written; {"sha256", "size"} of it."""
    info = zipfile.ZipInfo(name, date_time=timezone.now().utctimetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    digest, size = hashlib.sha256(), 0
    # Streamed entries may pass 4 GiB, which needs ZIP64 headers decided before writing.
    with archive.open(info, "w", force_zip64=large) as entry:
        for block in blocks:
            entry.write(block)
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "size": size}


def _readable_json(value) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _manifest(meta: dict, files: dict, *, events: int) -> dict:
    return {
        "format": FORMAT,
        "report": {key: meta.get(key) for key in ("id", "title", "type", "framework", "period_start", "period_end",
                                                  "query", "subject", "generated_by", "generated_at")},
        "events": events,
        "files": files,
        "key_id": signing.key_id(),
        "public_key_fingerprint": key_fingerprint(signing.public_key()),
        "created_at": format_time(timezone.now()),
    }


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:` and the hex SHA-256 of the raw 32-byte public key."""
    return "sha256:" + hashlib.sha256(signing.public_key_raw(key)).hexdigest()


def checkpoints_of(verification: dict) -> dict:
    """The signed checkpoints the report's verification relied on, each as the bytes it signs
    need them: created_at as the chain writes times, the signature in base64."""
    rows = []
    for row in verification.get("checkpoints", []):
        rows.append({
            "seq": row["seq"], "hash": row["hash"], "event_count": row["event_count"],
            "created_at": format_time(datetime.fromisoformat(row["created_at"])),
            "key_id": row["key_id"], "signature": base64.b64encode(bytes.fromhex(row["signature"])).decode(),
        })
    return {"message_format": CHECKPOINT_MESSAGE_FORMAT, "checkpoints": rows}


def settings_snapshot() -> dict:
    """The settings an auditor asks about. Never a secret: no SECRET_KEY, signing seed or DSN."""
    validators = [v["NAME"].rsplit(".", 1)[-1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    min_length = next((v.get("OPTIONS", {}).get("min_length") for v in settings.AUTH_PASSWORD_VALIDATORS
                       if v["NAME"].endswith("MinimumLengthValidator")), None)
    return {
        "organisation": settings.REPORTS_ORGANISATION,
        "taken_at": format_time(timezone.now()),
        "git_commit": git_commit(),
        "debug": settings.DEBUG,
        "time_zone": settings.TIME_ZONE,
        "chain": {
            "signing_key_id": signing.key_id(),
            "public_key_fingerprint": key_fingerprint(signing.public_key()),
            "checkpoint_every_events": settings.AUDIT_CHECKPOINT_EVERY,
            "checkpoint_every_minutes_when_events_arrived": 5,
        },
        "redact_keys": list(settings.AUDIT_REDACT_KEYS),
        "console_audit_trail_enabled": settings.AUDIT_TRAIL_ENABLED,
        "sessions": {
            "cookie_age_seconds": settings.SESSION_COOKIE_AGE,
            "renewed_on_every_request": settings.SESSION_SAVE_EVERY_REQUEST,
            "secure_cookies": settings.SESSION_COOKIE_SECURE,
        },
        "sign_in_lockout": {
            "enabled": settings.AXES_ENABLED,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_seconds": int(settings.AXES_COOLOFF_TIME.total_seconds()),
            "locked_by": [list(group) for group in settings.AXES_LOCKOUT_PARAMETERS],
        },
        "passwords": {"min_length": min_length, "validators": validators},
    }


def git_commit() -> str | None:
    """The commit of the running checkout, when it is one and git is at hand."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and len(value) == 40 else None


def roles_snapshot() -> dict:
    """Who may do what, as the pack is made: roles, active assignments, superusers, usable
    API tokens and auditor links. Token and link secrets are stored hashed; not even the
    hashes are copied here."""
    from django.contrib.auth import get_user_model

    from apps.rbac.assignments import assignment_list, role_list
    from apps.rbac.auditor_links import auditor_link_list
    from apps.rbac.models import ApiToken

    def when(value):
        return format_time(value) if value else None

    def who(user):
        return user.get_username() if user is not None else None

    roles = [{"slug": role.slug, "name": role.name, "description": role.description,
              "permissions": sorted(f"{p.content_type.app_label}.{p.codename}" for p in role.permissions.all())}
             for role in role_list()]
    assignments = [{
        "user": a.user.get_username(), "email": a.user.email, "role": a.role.slug,
        "projects": list(a.projects), "teams": [team.name for team in a.teams.all()],
        "window_start": when(a.window_start), "window_end": when(a.window_end), "expires_at": when(a.expires_at),
        "created_at": when(a.created_at), "created_by": who(a.created_by),
    } for a in assignment_list().active()]
    superusers = sorted(get_user_model().objects.filter(is_superuser=True, is_active=True)
                        .values_list("username", flat=True))
    tokens = [{
        "prefix": t.prefix, "name": t.name, "scope": t.scope, "user": who(t.user), "projects": list(t.projects),
        "window_start": when(t.window_start), "window_end": when(t.window_end), "expires_at": when(t.expires_at),
        "created_at": when(t.created_at), "created_by": who(t.created_by), "last_used_at": when(t.last_used_at),
    } for t in ApiToken.objects.usable().select_related("user", "created_by").order_by("created_at", "prefix")]
    links = [{
        "prefix": link.prefix, "label": link.label, "user": who(link.user), "projects": list(link.projects),
        "window_start": when(link.window_start), "window_end": when(link.window_end),
        "expires_at": when(link.expires_at), "created_by": who(link.created_by),
    } for link in auditor_link_list().usable()]
    return {"taken_at": format_time(timezone.now()), "roles": roles, "assignments": assignments,
            "superusers": superusers, "api_tokens": tokens, "auditor_links": links}


# --- verifying ---------------------------------------------------------------------------------


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
