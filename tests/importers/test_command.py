"""manage.py import_events: globs, gzip, standard input, progress on stderr, problems listed."""
from __future__ import annotations

import gzip
import io
import sys

import pytest
from django.core.management import CommandError, call_command

from apps.events.models import Event
from tests.importers.samples_paths import FALCO, OKTA, STRATUS


def _command(*args, stdin: bytes | None = None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    try:
        call_command("import_events", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def test_a_glob_imports_every_matching_file_with_progress_on_stderr(db):
    out, err, error = _command("--format", "cloudtrail", str(STRATUS / "*.json"))
    assert error is None
    assert out.strip() == ("imported 310 events from 35 file(s); 0 already stored, 0 skipped, 0 refused, "
                           "0 conflicting, 0 file(s) unreadable")
    assert "read 310  imported 310  duplicates 0  skipped 0  refused 0" in err
    assert Event.objects.count() == 310


def test_running_it_again_reports_everything_as_already_stored(db):
    _command(str(STRATUS / "aws.persistence.*.json"))
    out, _, _ = _command("--quiet", str(STRATUS / "aws.persistence.*.json"))
    assert out.startswith("imported 0 events from 10 file(s); 17 already stored")


def test_gzip_from_standard_input(db, monkeypatch):
    packed = gzip.compress((OKTA / "okta-add-administrator.1_legit_login.jsonl").read_bytes())
    out, _, error = _command("--quiet", "-", stdin=packed, monkeypatch=monkeypatch)
    assert error is None and out.startswith("imported 5 events from 1 file(s)")
    assert set(Event.objects.values_list("actor_email", flat=True)) == {"jack.naglieri@runpanther.io"}


def test_refused_records_are_listed_and_the_exit_status_says_so(db):
    out, err, error = _command("--quiet", "--format", "kubernetes", str(FALCO / "exec_pod.json"), str(FALCO / "fal_01_003.json"))
    assert out.startswith("imported 1 events from 2 file(s); 0 already stored, 0 skipped, 1 refused")
    assert f"refused: {FALCO / 'fal_01_003.json'}, line 1: kind is 0, not 'Event': not a Kubernetes audit event" in err
    assert error is not None and error.returncode == 2


def test_a_dry_run_stores_nothing(db):
    out, _, _ = _command("--quiet", "--dry-run", str(STRATUS / "aws.persistence.iam-create-admin-user.json"))
    assert out.startswith("would import 3 events")
    assert Event.objects.count() == 0


@pytest.mark.parametrize("args,message", [
    (["/nonexistent/trail.json"], "/nonexistent/trail.json: No such file or directory"),
    (["/nonexistent/*.json"], "/nonexistent/*.json: no file matches"),
    ([str(STRATUS)], "is a directory; give a glob such as"),
    (["--batch-size", "0", "x.json"], "--batch-size must be between 1 and 10000"),
])
def test_bad_arguments_are_named(db, args, message):
    with pytest.raises(CommandError, match=message.replace("*", r"\*")):
        call_command("import_events", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert Event.objects.count() == 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_shows_a_bar_with_the_share_of_the_files_read(tmp_path):
    from django.core.management.base import OutputWrapper

    from apps.importers.management.commands.import_events import _Progress
    from apps.importers.run import ImportSummary

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"x" * 3000)
    second.write_bytes(b"y" * 1000)
    terminal = _Terminal()
    progress = _Progress(OutputWrapper(terminal), [str(first), str(second)])
    with open(first, "rb") as a, open(second, "rb") as b:
        progress.opened(str(first), a)
        a.read(3000)
        progress.opened(str(second), b)
        b.read(0)
        # 500 records mapped but not yet appended: read, not done.
        progress(ImportSummary(read=3000, mapped=3000, imported=2000, duplicates=500))
    line = terminal.getvalue()
    assert line.startswith("\r[" + "#" * 15 + "." * 9 + "]  62%  read 3,000  imported 2,000  duplicates 500  skipped 0  refused 0")
    assert "left" in line and not line.endswith("\n")


def test_progress_into_a_file_is_whole_lines_without_a_bar_at_the_end(db):
    out, err, error = _command("--format", "cloudtrail", str(STRATUS / "aws.persistence.*.json"))
    assert error is None
    assert "\r" not in err and "[" not in err.splitlines()[-1]
    assert err.splitlines()[-1].startswith("read 17  imported 17  duplicates 0")
