"""Evidence packs: one signed ZIP that an auditor checks without trusting, or running, the console.

A pack holds the report's PDF, the slice of the log it covers (`events.jsonl`: every event of
the period its requester may see, oldest first, in the API's JSON shape), the figures, a
snapshot of the console's settings and of who holds which role, the framework's control
mapping, the chain's verification result, the signed checkpoints covering the period and, for
convenience only, the console's public key. `manifest.json` lists every other file with its
SHA-256 and size; `manifest.sig` is the raw 64-byte Ed25519 signature, by the key that signs
the chain's checkpoints, over the exact bytes of manifest.json (RFC 8785 JSON, so the bytes
are stable).

An auditor checks a pack with apps.reports.pack_verify (`manage.py verify_pack`), which needs
nothing but the ZIP and a trusted public key.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.events import signing
from apps.events.canonical import canonical_json
from apps.events.chain import format_time
from apps.search.export import jsonl_chunks
from apps.events.query import parse_query
from apps.search.reads import event_export
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
