"""Evidence packs: what goes in, who sees what, and checking a pack offline (with and without our code).

One small known log is stored for the module and reports are generated from it once, as the
worker would make them; each test then reads, alters or verifies copies of those packs. The
verification tests do not ask for the database, so pytest-django would fail them if
`verify_pack` touched it.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

from apps.events import signing
from apps.events.canonical import canonical_json
from apps.events.chain import checkpoint_create
from apps.events.ingest import event_ingest
from apps.rbac.models import Role
from apps.rbac.tokens import token_issue
from apps.reports import packs
from apps.reports.frameworks_data import framework_get
from apps.reports.generation import report_generate, reports_root
from apps.reports.models import Report, ReportFile
from tests.factories import give_role
from tests.logbook import event
from tests.personas import personas_create

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 3, 1, tzinfo=dt_timezone.utc)
END = datetime(2025, 3, 8, tzinfo=dt_timezone.utc)

ATTACKER_DESCRIPTION = ('Line one\n{"event_id": "forged", "action": "auth.login"}\n'
                        '</script><script>alert(1)</script> =HYPERLINK("http://evil.example") \u202egnp.exe')
ATTACKER_NAME = '<img src=x onerror=alert(1)> "Mallory"'
ATTACKER_NOTE = '"},\n{"injected": true, "x": "'

# Stored in two batches, each followed by a signed checkpoint, so that one checkpoint falls on
# an event inside the period. Within the first batch e-iam arrives before e-scale although it
# happened later: seq order is not time order.
FIRST_BATCH = [
    event("e-before", "auth.login", "2025-02-28T23:59:59Z", actor={"id": "alice"}, project="web"),
    event("e-login", "auth.login", "2025-03-01T00:00:00Z", status="success", actor={"id": "alice"},
          auth_method="password", ip_address="203.0.113.5", project="web"),
    event("e-iam", "iam.role.update", "2025-03-03T11:00:00Z", actor={"id": "alice", "email": "alice@example.com"},
          resource={"type": "role", "id": "role-ops"}, project="payments", severity="high",
          changes={"before": {"role": "viewer"}, "after": {"role": "admin"}}),
    event("e-scale", "vps.scale.up", "2025-03-02T10:00:00Z", actor={"id": "bob", "email": "bob@example.com"},
          resource={"type": "vps", "id": "vps-7"}, project="payments",
          changes={"before": {"cpus": 2}, "after": {"cpus": 4}}, metadata={"ratio": 1.5, "zones": ["a", "b"]}),
    event("e-attack", "auth.login", "2025-03-04T12:00:00Z", status="failed", severity="medium",
          actor={"id": "mallory", "name": ATTACKER_NAME}, ip_address="::ffff:10.0.0.1", project="web",
          user_agent="=cmd|' /C calc'!A0", description=ATTACKER_DESCRIPTION, tags=["<b>bold</b>", "a,b"],
          metadata={"note": ATTACKER_NOTE}),
    event("e-logout", "auth.logout", "2025-03-05T09:30:00Z", actor={"id": "bob", "email": "bob@example.com"},
          project="payments"),
]
SECOND_BATCH = [
    event("e-end", "auth.login", "2025-03-08T00:00:00Z", actor={"id": "alice"}, project="web"),
    event("e-after", "auth.login", "2025-03-09T08:00:00Z", actor={"id": "bob"}, project="payments"),
]
IN_PERIOD_OLDEST_FIRST = ["e-login", "e-scale", "e-iam", "e-attack", "e-logout"]
FILES = {"report.pdf", "events.jsonl", "figures.json", "settings.json", "roles.json", "control-mapping.json",
         "verification.json", "checkpoints.json", "public-key.pem", "manifest.json", "manifest.sig"}


@pytest.fixture(scope="module")
def packs_made(django_db_setup, django_db_blocker, tmp_path_factory):
    """Reports generated as the worker makes them; {name: (report id, path of its pack)}."""
    folder = tmp_path_factory.mktemp("reports")
    with django_db_blocker.unblock(), override_settings(REPORTS_ROOT=folder, AUDIT_TRAIL_ENABLED=False):
        with transaction.atomic():
            people = personas_create()
            cora, alice = people["compliance"], people["regular"]
            # nora (the persona without a role) is made a Compliance Officer for payments alone.
            nora = people["no_role"]
            give_role(nora, Role.Slug.COMPLIANCE_OFFICER, projects=["payments"])
            token = token_issue(scope="read", user=cora, projects=["payments"], name="auditor export").token

            event_ingest(FIRST_BATCH)
            anchor = checkpoint_create()
            event_ingest(SECOND_BATCH)
            checkpoint_create()

            asked = {
                "officer": dict(report_type="compliance_audit", framework=framework_get("soc2_type2"),
                                requested_by=cora),
                "regular": dict(report_type="access_audit", requested_by=alice),
                "scoped": dict(report_type="security_audit", requested_by=nora),
                "subject": dict(report_type="user_activity", subject="bob", requested_by=cora),
                "empty": dict(report_type="access_audit", requested_by=cora,
                              period_start=datetime(2020, 1, 1, tzinfo=dt_timezone.utc),
                              period_end=datetime(2020, 1, 2, tzinfo=dt_timezone.utc)),
            }
            made = {}
            for name, fields in asked.items():
                fields = {"period_start": START, "period_end": END, **fields}
                report = Report.objects.create(format="zip", **fields)
                report = report_generate(report.pk)
                assert report.status == Report.Status.DONE, report.error
                pack = report.files.get(kind=ReportFile.Kind.EVIDENCE)
                made[name] = {"id": str(report.pk), "path": reports_root() / pack.path, "file": pack}
            made["token_prefix"], made["token_hash"] = token.prefix, token.key_hash
            made["anchor_seq"] = anchor.seq
            # The tests run with the database blocked again unless they ask for `db`.
            with django_db_blocker.block():
                yield made
            transaction.set_rollback(True)


@pytest.fixture(scope="module")
def console_key(tmp_path_factory) -> Path:
    """The console's public key, as an auditor is given it (separately from any pack)."""
    path = tmp_path_factory.mktemp("keys") / "console-public-key.pem"
    path.write_text(signing.public_key_pem())
    return path


@pytest.fixture
def other_key(tmp_path) -> Path:
    path = tmp_path / "other-public-key.pem"
    path.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def verify_pack(pack, key) -> tuple[int, str]:
    """Run `manage.py verify_pack`; (exit code, everything it printed)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_pack", str(pack), "--public-key", str(key), stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return code, out.getvalue() + err.getvalue()


def rewritten(source: Path, target: Path, *, change: dict | None = None, drop=(), add: dict | None = None) -> Path:
    """A copy of a pack, rewritten as a whole (a valid ZIP) with files changed, dropped or added."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename in drop:
                continue
            data = old.read(info)
            if change and info.filename in change:
                data = change[info.filename](data)
            new.writestr(info.filename, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def one_byte_changed(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def member(pack: Path, name: str) -> bytes:
    with zipfile.ZipFile(pack) as archive:
        return archive.read(name)


def events_of(pack: Path) -> list[dict]:
    return [json.loads(line) for line in member(pack, "events.jsonl").decode().splitlines()]


# --- a pack from a generated report ------------------------------------------------------------


def test_a_pack_from_a_generated_report_verifies_with_the_consoles_public_key(packs_made, console_key):
    pack = packs_made["officer"]["path"]
    with zipfile.ZipFile(pack) as archive:
        assert set(archive.namelist()) == FILES
    code, output = verify_pack(pack, console_key)
    assert code == 0, output
    assert "OK" in output
    assert "9 files match the signed manifest" in output
    assert "5 events' hashes recompute" in output
    assert "1 of them at the seq of an event in the pack" in output


def test_the_pack_is_the_reports_download_and_its_stored_digest_matches(packs_made):
    stored = packs_made["officer"]["file"]
    path = packs_made["officer"]["path"]
    assert stored.content_type == "application/zip"
    assert stored.name.endswith("-evidence.zip")
    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert member(path, "report.pdf").startswith(b"%PDF")


def test_the_manifest_lists_every_file_with_its_digest_and_is_signed_over_its_exact_canonical_bytes(packs_made):
    pack = packs_made["officer"]["path"]
    raw = member(pack, "manifest.json")
    manifest = json.loads(raw)
    assert raw == canonical_json(manifest)  # sorted keys, no spaces: stable bytes
    assert manifest["format"] == "audit-console-evidence-pack/1"
    assert set(manifest["files"]) == FILES - {"manifest.json", "manifest.sig"}
    for name, entry in manifest["files"].items():
        data = member(pack, name)
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, name
    assert manifest["report"]["id"] == packs_made["officer"]["id"]
    assert manifest["report"]["type"] == "compliance_audit"
    assert manifest["report"]["framework"] == "soc2_type2"
    assert manifest["report"]["generated_by"] == "cora"
    assert manifest["report"]["period_start"].startswith("2025-03-01")
    assert manifest["events"] == 5
    assert manifest["key_id"] == signing.key_id()
    assert manifest["public_key_fingerprint"] == "sha256:" + hashlib.sha256(signing.public_key_raw()).hexdigest()
    signature = member(pack, "manifest.sig")
    assert len(signature) == 64
    signing.public_key().verify(signature, raw)


def test_the_pack_holds_the_reports_figures_verification_mapping_and_checkpoints(packs_made):
    pack = packs_made["officer"]["path"]
    figures = json.loads(member(pack, "figures.json"))
    assert figures["report"]["id"] == packs_made["officer"]["id"]
    assert json.loads(member(pack, "verification.json")) == figures["verification"]
    assert figures["verification"]["verified"] is True
    mapping = json.loads(member(pack, "control-mapping.json"))
    assert mapping["key"] == "soc2_type2"
    assert "CC6.1" in [control["ref"] for control in mapping["controls"]]
    checkpoints = json.loads(member(pack, "checkpoints.json"))
    assert "RFC 8785" in checkpoints["message_format"]
    rows = checkpoints["checkpoints"]
    assert [row["seq"] for row in rows][0] == packs_made["anchor_seq"]
    for row in rows:
        assert set(row) == {"seq", "hash", "event_count", "created_at", "key_id", "signature"}
        assert row["hash"].startswith("sha256:") and row["created_at"].endswith("Z")
        assert len(base64.b64decode(row["signature"])) == 64
    assert member(pack, "public-key.pem").decode() == signing.public_key_pem()


def test_the_packs_figures_count_every_event_that_events_jsonl_holds(packs_made):
    pack = packs_made["officer"]["path"]
    figures = json.loads(member(pack, "figures.json"))
    assert figures["summary"]["figures"]["events"] == len(events_of(pack)) == 5


def test_a_report_without_a_framework_has_a_null_control_mapping(packs_made):
    assert json.loads(member(packs_made["regular"]["path"], "control-mapping.json")) is None


def test_settings_json_shows_what_an_auditor_asks_about_and_no_secret(packs_made):
    pack = packs_made["officer"]["path"]
    snapshot = json.loads(member(pack, "settings.json"))
    assert snapshot["chain"]["checkpoint_every_events"] == settings.AUDIT_CHECKPOINT_EVERY
    assert snapshot["chain"]["signing_key_id"] == signing.key_id()
    assert "password" in snapshot["redact_keys"]
    assert snapshot["sessions"]["cookie_age_seconds"] == settings.SESSION_COOKIE_AGE
    assert snapshot["sign_in_lockout"]["failure_limit"] == settings.AXES_FAILURE_LIMIT
    assert snapshot["organisation"] == settings.REPORTS_ORGANISATION
    assert "git_commit" in snapshot and "console_audit_trail_enabled" in snapshot
    seed = base64.b64encode(signing.private_key().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())).decode()
    secrets = [settings.SECRET_KEY, seed, settings.DATABASES["default"].get("PASSWORD") or None]
    with zipfile.ZipFile(pack) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            for secret in filter(None, secrets):
                assert secret.encode() not in data, name


def test_roles_json_lists_roles_active_assignments_and_tokens_but_never_a_token_hash(packs_made):
    pack = packs_made["officer"]["path"]
    roles = json.loads(member(pack, "roles.json"))
    officer = next(role for role in roles["roles"] if role["slug"] == "compliance-officer")
    assert "rbac.generate_evidence_packs" in officer["permissions"]
    assert "rbac.export_events" not in officer["permissions"]
    held = {(a["user"], a["role"]): a for a in roles["assignments"]}
    assert held[("nora", "compliance-officer")]["projects"] == ["payments"]
    assert ("alice", "regular-user") in held and ("cora", "compliance-officer") in held
    token = next(t for t in roles["api_tokens"] if t["prefix"] == packs_made["token_prefix"])
    assert token == {**token, "scope": "read", "user": "cora", "projects": ["payments"]}
    with zipfile.ZipFile(pack) as archive:
        for name in archive.namelist():
            assert packs_made["token_hash"].encode() not in archive.read(name), name


# --- who sees what -----------------------------------------------------------------------------


def test_events_jsonl_holds_every_event_of_the_period_oldest_first_and_nothing_outside_it(packs_made):
    events = events_of(packs_made["officer"]["path"])
    assert [e["event_id"] for e in events] == IN_PERIOD_OLDEST_FIRST
    # Same shape as the API and exports, chain position included.
    assert set(events[0]) >= {"event_id", "occurred_at", "actor", "resource", "verification"}
    assert events[0]["verification"]["hash"].startswith("sha256:")


def test_a_regular_users_pack_holds_only_her_own_events(packs_made):
    assert [e["event_id"] for e in events_of(packs_made["regular"]["path"])] == ["e-login", "e-iam"]


def test_a_project_scoped_officers_pack_holds_only_that_projects_events(packs_made):
    assert [e["event_id"] for e in events_of(packs_made["scoped"]["path"])] == ["e-scale", "e-iam", "e-logout"]


def test_a_user_activity_pack_holds_only_the_subjects_events(packs_made):
    assert [e["event_id"] for e in events_of(packs_made["subject"]["path"])] == ["e-scale", "e-logout"]


def test_packs_of_narrower_views_verify_too(packs_made, console_key):
    for name in ("regular", "scoped", "subject"):
        code, output = verify_pack(packs_made[name]["path"], console_key)
        assert code == 0, (name, output)


def test_a_pack_of_a_period_without_events_verifies_and_holds_no_event(packs_made, console_key):
    pack = packs_made["empty"]["path"]
    assert member(pack, "events.jsonl") == b""
    assert json.loads(member(pack, "checkpoints.json"))["checkpoints"] == []
    code, output = verify_pack(pack, console_key)
    assert code == 0, output
    assert "0 events' hashes recompute" in output


def test_attacker_controlled_text_survives_as_data(packs_made, console_key):
    pack = packs_made["officer"]["path"]
    lines = member(pack, "events.jsonl").decode().splitlines()
    assert len(lines) == 5  # the newlines and braces in the description made no extra line
    attack = next(json.loads(line) for line in lines if '"e-attack"' in line)
    assert attack["description"] == ATTACKER_DESCRIPTION
    assert attack["actor"]["name"] == ATTACKER_NAME
    assert attack["metadata"]["note"] == ATTACKER_NOTE
    assert attack["user_agent"] == "=cmd|' /C calc'!A0"
    assert attack["tags"] == ["<b>bold</b>", "a,b"]
    figures = json.loads(member(pack, "figures.json"))
    shown = [row for row in figures["summary"]["events"] if row["event_id"] == "e-attack"]
    assert shown and shown[0]["description"] == ATTACKER_DESCRIPTION
    assert verify_pack(pack, console_key)[0] == 0


def test_events_are_read_and_written_in_chunks_whatever_the_size_of_the_period(packs_made, db, tmp_path,
                                                                               monkeypatch):
    chunks = []
    export = packs.event_export

    def recorded(**kwargs):
        for rows in export(**kwargs):
            chunks.append(len(rows))
            yield rows

    monkeypatch.setattr(packs, "CHUNK", 2)
    monkeypatch.setattr(packs, "event_export", recorded)
    report = Report.objects.get(pk=packs_made["officer"]["id"])
    out = packs.pack_build(report=report, figures=report.figures, pdf_path=None, out_path=tmp_path / "pack.zip")
    assert chunks == [2, 2, 1]
    assert member(out, "events.jsonl") == member(packs_made["officer"]["path"], "events.jsonl")
    assert not list(tmp_path.glob("*.part"))


# --- what verify_pack catches ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["events.jsonl", "figures.json", "roles.json", "report.pdf"])
def test_changing_one_byte_of_one_file_makes_verify_pack_exit_1_naming_that_file(packs_made, console_key,
                                                                                   tmp_path, name):
    altered = rewritten(packs_made["officer"]["path"], tmp_path / "altered.zip", change={name: one_byte_changed})
    code, output = verify_pack(altered, console_key)
    assert code == 1
    assert f"file changed: {name}" in output
    assert output.count("file changed") == 1
    assert "signature invalid" not in output


def test_a_different_key_fails_naming_the_signature_and_the_fingerprint(packs_made, other_key):
    code, output = verify_pack(packs_made["officer"]["path"], other_key)
    assert code == 1
    assert "signature invalid" in output
    assert "fingerprint mismatch" in output


def test_a_removed_file_fails(packs_made, console_key, tmp_path):
    altered = rewritten(packs_made["officer"]["path"], tmp_path / "altered.zip", drop={"roles.json"})
    code, output = verify_pack(altered, console_key)
    assert code == 1
    assert "file missing: roles.json" in output


def test_an_added_file_fails(packs_made, console_key, tmp_path):
    altered = rewritten(packs_made["officer"]["path"], tmp_path / "altered.zip", add={"notes.txt": b"trust me"})
    code, output = verify_pack(altered, console_key)
    assert code == 1
    assert "extra file not in manifest: notes.txt" in output


def test_a_changed_manifest_fails_its_signature(packs_made, console_key, tmp_path):
    def fewer_files(raw: bytes) -> bytes:
        manifest = json.loads(raw)
        del manifest["files"]["roles.json"]
        return canonical_json(manifest)

    altered = rewritten(packs_made["officer"]["path"], tmp_path / "altered.zip",
                        change={"manifest.json": fewer_files}, drop={"roles.json"})
    code, output = verify_pack(altered, console_key)
    assert code == 1
    assert "signature invalid" in output


def test_a_missing_signature_fails(packs_made, console_key, tmp_path):
    altered = rewritten(packs_made["officer"]["path"], tmp_path / "altered.zip", drop={"manifest.sig"})
    code, output = verify_pack(altered, console_key)
    assert code == 1
    assert "file missing: manifest.sig" in output


def test_a_damaged_zip_entry_is_named_as_changed(packs_made, console_key, tmp_path):
    """Bytes flipped inside the ZIP itself (not a rewrite): the entry no longer decompresses."""
    pack = packs_made["officer"]["path"]
    with zipfile.ZipFile(pack) as archive:
        info = archive.getinfo("figures.json")
    raw = bytearray(pack.read_bytes())
    # The entry's data starts after its 30-byte local header, name and extra field.
    name_length = int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28], "little")
    extra_length = int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    raw[start + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    code, output = verify_pack(damaged, console_key)
    assert code == 1
    assert "file changed: figures.json" in output


def _resigned(source: Path, target: Path, name: str, change) -> Path:
    """A pack with one file changed AND its manifest rebuilt and signed with the console's key."""
    manifest = json.loads(member(source, "manifest.json"))
    data = change(member(source, name))
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    raw = canonical_json(manifest)
    return rewritten(source, target, change={name: lambda _: data, "manifest.json": lambda _: raw,
                                             "manifest.sig": lambda _: signing.sign(raw)})


def test_an_event_changed_in_a_re_signed_pack_still_fails_its_chain_hash(packs_made, console_key, tmp_path):
    """Even with the manifest re-signed, an event whose text changed no longer matches its hash."""
    def edited(data: bytes) -> bytes:
        return data.replace(b'"action": "vps.scale.up"', b'"action": "vps.scale.down"')

    altered = _resigned(packs_made["officer"]["path"], tmp_path / "altered.zip", "events.jsonl", edited)
    code, output = verify_pack(altered, console_key)
    assert code == 1
    seq = next(e["verification"]["seq"] for e in events_of(packs_made["officer"]["path"]) if e["event_id"] == "e-scale")
    assert f"the hash of event seq {seq} does not match its content" in output


def test_a_forged_checkpoint_in_a_re_signed_pack_fails_its_signature(packs_made, console_key, tmp_path):
    def forged(data: bytes) -> bytes:
        checkpoints = json.loads(data)
        checkpoints["checkpoints"][0]["event_count"] += 1
        return json.dumps(checkpoints).encode()

    altered = _resigned(packs_made["officer"]["path"], tmp_path / "altered.zip", "checkpoints.json", forged)
    code, output = verify_pack(altered, console_key)
    assert code == 1
    assert f"checkpoint at seq {packs_made['anchor_seq']}: its signature does not verify" in output


@pytest.mark.parametrize("case", ["not a zip", "no manifest", "unreadable key", "not a key"])
def test_unusable_input_exits_2_with_a_clear_message(packs_made, console_key, tmp_path, case):
    pack, key = packs_made["officer"]["path"], console_key
    expected = {"not a zip": "is not a readable ZIP file", "no manifest": "holds no manifest.json",
                "unreadable key": "cannot read the public key", "not a key": "not a usable Ed25519 key"}[case]
    if case == "not a zip":
        pack = tmp_path / "pack.zip"
        pack.write_text("%PDF-1.7 not a zip")
    elif case == "no manifest":
        pack = rewritten(pack, tmp_path / "pack.zip", drop={"manifest.json"})
    elif case == "unreadable key":
        key = tmp_path / "missing.pem"
    else:
        key = tmp_path / "key.pem"
        key.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    code, output = verify_pack(pack, key)
    assert code == 2
    assert expected in output


@pytest.mark.parametrize("altered, code", [(False, 0), (True, 1)])
def test_verify_pack_runs_offline_without_any_database(packs_made, console_key, tmp_path, altered, code):
    """The real command line, with a database URL that nothing listens on."""
    pack = packs_made["officer"]["path"]
    if altered:
        pack = rewritten(pack, tmp_path / "altered.zip", change={"settings.json": one_byte_changed})
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nowhere"}
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "verify_pack", str(pack),
                           "--public-key", str(console_key)], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    assert ("OK" in done.stdout) if code == 0 else ("file changed: settings.json" in done.stderr)


# --- the README's instructions, which need none of our code -----------------------------------


def _readme_auditor_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Checking an evidence pack (auditors)", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def _run_block(block: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _auditor_folder(tmp_path: Path, pack: Path, key: Path) -> Path:
    """What the auditor holds: the pack as evidence.zip and the key they were given."""
    shutil.copy(pack, tmp_path / "evidence.zip")
    shutil.copy(key, tmp_path / "console-public-key.pem")
    return tmp_path


needs_tools = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("openssl", "unzip", "python3", "bash",
                                                                              "sha256sum")),
                                 reason="the README's instructions need openssl, unzip, python3, sha256sum and bash")


@needs_tools
def test_the_readme_instructions_verify_a_pack_without_the_console(packs_made, console_key, tmp_path):
    folder = _auditor_folder(tmp_path, packs_made["officer"]["path"], console_key)
    blocks = [b for b in _readme_auditor_blocks() if "openssl pkeyutl -verify" in b and "manifest.sig" in b]
    assert len(blocks) == 1, "the README shows one block that checks a pack"
    assert ("openssl pkeyutl -verify -pubin -inkey ../console-public-key.pem -rawin -in manifest.json "
            "-sigfile manifest.sig") in blocks[0]
    done = _run_block(blocks[0], folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Signature Verified Successfully" in done.stdout
    assert "all files match manifest.json" in done.stdout
    assert "events.jsonl: OK" in done.stdout  # the sha256sum line


@needs_tools
@pytest.mark.parametrize("how", ["changed file", "other key"])
def test_the_readme_instructions_fail_on_a_changed_pack_or_another_key(packs_made, console_key, other_key,
                                                                        tmp_path, how):
    pack = packs_made["officer"]["path"]
    if how == "changed file":
        pack = rewritten(pack, tmp_path / "altered.zip", change={"roles.json": one_byte_changed})
    (tmp_path / "auditor").mkdir()
    folder = _auditor_folder(tmp_path / "auditor", pack, other_key if how == "other key" else console_key)
    block = next(b for b in _readme_auditor_blocks() if "openssl pkeyutl -verify" in b and "manifest.sig" in b)
    done = _run_block(block, folder)
    assert done.returncode != 0
    if how == "changed file":
        assert "Signature Verified Successfully" in done.stdout
        assert "roles.json" in done.stdout + done.stderr
    else:
        assert "Signature Verification Failure" in done.stdout + done.stderr


@needs_tools
def test_the_readme_fingerprint_and_checkpoint_instructions_work(packs_made, console_key, tmp_path):
    folder = _auditor_folder(tmp_path, packs_made["officer"]["path"], console_key)
    blocks = _readme_auditor_blocks()
    checking = next(b for b in blocks if "openssl pkeyutl -verify" in b and "manifest.sig" in b)
    assert _run_block(checking, folder).returncode == 0  # unzips into pack/
    fingerprint = next(b for b in blocks if "openssl pkey -pubin" in b)
    done = _run_block(fingerprint, folder)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(member(packs_made["officer"]["path"], "manifest.json"))
    assert manifest["public_key_fingerprint"].removeprefix("sha256:") in done.stdout
    checkpoints = next(b for b in blocks if "checkpoints.json" in b)
    done = _run_block(checkpoints, folder / "pack")  # as the README says: from pack/
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(json.loads(member(packs_made["officer"]["path"], "checkpoints.json"))["checkpoints"])
    assert done.stdout.count("Signature Verified Successfully") == count
    assert f"checkpoint at seq {packs_made['anchor_seq']} names the hash of event e-logout" in done.stdout
