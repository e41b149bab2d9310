"""Importing foreign audit logs: one code path for the command, the upload page and the API.

read (read.py) → detect the format (formats.format_detect) → map each record (the format's
`event_from`) → normalise (apps.events.schema.normalize_event) → append in batches through
apps.events.chain.chain_append, which takes the chain-head lock for each batch, exactly as
`event_ingest` does. A record that cannot be mapped or normalised is reported with its file,
line or index and reason, and the others are imported; a batch is stored whole or not at all.
The event_id of each record comes from the source's id and a digest of the record, so a
repeated import stores nothing new (chain_append reports those as duplicates); an id already
taken by an event with other content is reported as a conflict with the record's file and
line, as the API answers 409 for it (apps.events.ingest.event_conflicts).

A little past 400 lines because the one path holds what all three ways in share: batching,
per-record refusals, conflicts, Kubernetes' cross-batch stages and the bulk merge beside it;
the formats themselves live in formats/.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple

from django.utils import timezone

from apps.events.bulk_load import bulk_appends
from apps.events.chain import Prepared, chain_append, chain_prepare
from apps.events.ingest import event_conflicts
from apps.events.schema import FieldError, is_sensitive, normalize_event
from apps.importers.formats import FORMATS, format_detect, format_get
from apps.importers.formats.base import Refused, Skipped
from apps.importers.read import FileUnreadable, Located, documents
from apps.rbac.audit_trail import Actor, audit_record

BATCH_SIZE = 1000
# The reason given for a record whose event_id names another event already stored: nothing of
# that event is told (it may be another project's).
_CONFLICT = ("event_id '{event_id}' is already taken by another event with other content (this record imported "
             "before under another project, or an event sent with this id); not imported")
# Batches read and mapped ahead of the one being appended.
AHEAD = 2


class ImportFailed(Exception):
    """The import cannot start (an unknown format); nothing was read."""


@dataclass
class Problem:
    file: str
    where: str
    reason: str

    def __str__(self) -> str:
        return ", ".join(part for part in (self.file, self.where) if part) + f": {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "where": self.where, "reason": self.reason}


@dataclass
class ImportSummary:
    format: str = "auto"
    files: dict[str, str] = field(default_factory=dict)   # file → the format it was read as
    read: int = 0
    mapped: int = 0      # records mapped onto events (what a dry run would import, duplicates aside)
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    refused: list[Problem] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)   # records whose event_id names another stored event
    unreadable: list[Problem] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    dry_run: bool = False

    @property
    def problems(self) -> list[Problem]:
        return self.unreadable + self.refused + self.conflicts

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {
            "format": self.format, "files": self.files, "read": self.read, "imported": self.imported,
            "duplicates": self.duplicates, "skipped": self.skipped, "refused": len(self.refused),
            "conflicts": len(self.conflicts), "problems": [p.as_dict() for p in self.problems],
        }


class _Batch(NamedTuple):
    events: list[dict]
    origins: list[tuple[str, str]]   # (file, where) of each event


@dataclass
class _Pending:
    where: str
    record: object


class _Run:
    """The state of one import: the summary so far and the batch being filled."""

    def __init__(self, summary: ImportSummary, *, project: str, projects: list[str] | None,
                 batch_size: int, preview: int, max_bytes: int | None = None) -> None:
        self.summary, self.project, self.projects = summary, project, projects or []
        self.max_bytes = max_bytes
        self.batch_size, self.preview = batch_size, preview
        self.events: list[dict] = []
        self.origins: list[tuple[str, str]] = []   # (file, where) of each of self.events
        # The time normalize_event gives a record without one (the very object: see event_conflicts).
        self.now = timezone.now()
        self.stages: dict[str, object] = {}   # format name → its Requests, for formats that have one

    def records(self, name: str, module: ModuleType, pending: list[_Pending]) -> Iterator[_Batch]:
        """Map and normalise a window of raw records; yields each batch as it fills."""
        stages = self._stages(module)
        for item in pending:
            self.summary.read += 1
            verdict = stages.sort(item.record) if stages else "keep"
            if stages and stages.dropped:
                # A request's final stage let go of its started stage, held back from an earlier batch.
                self.summary.skipped += stages.dropped
                stages.dropped = 0
            if verdict == "skip":
                self.summary.skipped += 1
                continue
            try:
                event = self._event(module, item.record)
            except Skipped:
                self.summary.skipped += 1
                continue
            except Refused as error:
                self.summary.refused.append(Problem(name, item.where, error.reason))
                continue
            if verdict == "hold":
                stages.hold(item.record, (event, (name, item.where)))
                continue
            yield from self._add(event, (name, item.where))

    def _add(self, event: dict, origin: tuple[str, str]) -> Iterator[_Batch]:
        self.summary.mapped += 1
        if len(self.summary.preview) < self.preview:
            self.summary.preview.append(event)
        if not self.summary.dry_run:
            self.events.append(event)
            self.origins.append(origin)
            if len(self.events) >= self.batch_size:
                yield self.take()

    def _stages(self, module: ModuleType):
        """The format's record of request stages for this import (Kubernetes), made on first use."""
        if not hasattr(module, "Requests"):
            return None
        if module.NAME not in self.stages:
            self.stages[module.NAME] = module.Requests()
        return self.stages[module.NAME]

    def released(self) -> Iterator[_Batch]:
        """The events held back until the end of the import (a request seen only at its start)."""
        for stages in self.stages.values():
            for event, origin in stages.release():
                yield from self._add(event, origin)

    def take(self) -> _Batch:
        batch = _Batch(self.events, self.origins)
        self.events, self.origins = [], []
        return batch

    def _event(self, module: ModuleType, record) -> dict:
        if not isinstance(record, dict):
            raise Refused(f"a record must be a JSON object, not {type(record).__name__}")
        try:
            raw = module.event_from(record)
            if self.project:
                raw["project"] = self.project
            event = normalize_event(raw, now=self.now)
        except (Refused, Skipped):
            raise
        except FieldError as error:
            raise Refused(f"{error.field} {error.message}" if error.field else error.message) from None
        except RecursionError:
            raise Refused("the record is nested too deeply") from None
        except Exception as error:  # noqa: BLE001 - a record is attacker-controlled: report it, never crash the import
            raise Refused(f"cannot be mapped ({type(error).__name__}: {error})") from None
        _keep_lifted(raw.get("metadata"), event["metadata"])
        # The `audit` category and `audit.*` actions are refused by normalize_event itself: they
        # are the console's own records, which no client and no import may write.
        if self.projects:
            if not event["project"] and len(self.projects) == 1:
                event["project"] = self.projects[0]
            elif event["project"] not in self.projects:
                allowed = ", ".join(self.projects)
                raise Refused(f"project '{event['project']}' is not one of this token's projects ({allowed}); "
                              "name one with the project parameter")
        return event


def _keep_lifted(source, kept: dict) -> None:
    """Put back the source's top-level text fields that normalisation moved out of metadata.

    normalize_event lifts a few keys (`user_agent`, `request_id`, `tags`, ...) from metadata
    into their columns when those are empty: for an imported record they must stay in
    metadata under their original paths as well (an empty `user_agent` of a GitHub record).
    """
    if not isinstance(source, dict) or not isinstance(kept, dict):
        return
    for key, value in source.items():
        if key in kept or not isinstance(key, str) or is_sensitive(key):
            continue
        if isinstance(value, str) and "\x00" not in value:
            kept[key] = value
        elif isinstance(value, list) and all(isinstance(item, str) and "\x00" not in item for item in value):
            kept[key] = list(value)


def import_run(
    sources: Iterable[tuple[str, BinaryIO]],
    *,
    format: str = "auto",
    project: str = "",
    projects: list[str] | None = None,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    preview: int = 0,
    progress: Callable[[ImportSummary], None] | None = None,
    max_bytes: int | None = None,
    bulk: bool = False,
    request=None,
    actor: Actor | None = None,
) -> ImportSummary:
    """Import every (name, binary stream) of `sources` as `format` ("auto" detects it per file).

    `project` names the project of every event (else the source's account or project);
    `projects`, a project-limited ingest token's projects, are enforced as event_ingest does.
    With dry_run nothing is stored: the summary counts what would be, and `preview` keeps the
    first mapped events. `max_bytes` bounds each file's size once decompressed (the API and the
    page set it; a gzip bomb is refused instead of filling memory). `bulk` (the command, for
    large files) merges the search index's pending list beside the appends. The import itself is
    recorded in the console's audit trail.
    """
    chosen = None
    if format and format != "auto":
        chosen = format_get(format)
        if chosen is None:
            raise ImportFailed(f"format '{format}' is not one of: auto, {', '.join(FORMATS)}")
    summary = ImportSummary(format=chosen.NAME if chosen else "auto", dry_run=dry_run)
    run = _Run(summary, project=project, projects=projects, batch_size=batch_size, preview=preview, max_bytes=max_bytes)
    batches = _batches(run, sources, chosen)
    if dry_run:
        # Reading the batches is the dry run: every record is read, mapped and checked into the
        # summary (and the preview), and nothing is appended.
        for _ in batches:
            continue
    else:
        # Reading and mapping the next batch (in a thread) overlaps the database writing this
        # one: chain_append waits on PostgreSQL with the GIL released. The appends stay in
        # this thread, on its connection and in its transaction. A bulk import (the command's)
        # has the search index's pending list merged on another connection meanwhile, off the
        # chain-head lock (apps.events.bulk_load).
        with bulk_appends(merge_aside=bulk) as appends:
            for prepared, origins in _ahead(batches):
                with appends.appending():
                    appended = chain_append(prepared)
                _count(summary, prepared, origins, appended, run.now)
                if progress:
                    progress(summary)
    if not dry_run:
        audit_record(
            action="audit.importers.import", request=request, actor=actor,
            outcome="success" if summary.ok else "failure",
            resource_type="import", resource_name=", ".join(summary.files)[:500],
            description=f"imported {summary.imported} events ({summary.duplicates} already stored, "
                        f"{len(summary.problems)} problems) from {len(summary.files) or 'no'} file(s)",
            metadata={k: v for k, v in summary.as_dict().items() if k != "problems"}
                     | {"problems": [p.as_dict() for p in summary.problems[:50]]},
        )
    return summary


def _count(summary: ImportSummary, prepared: Prepared, origins: list[tuple[str, str]], appended, now) -> None:
    """Count what chain_append did with a batch. After the append's commit, outside the chain-head
    lock: what chain_append took for a duplicate was not stored, and stored events do not change,
    so nothing is undone; an event_id already naming other content is refused, as the API
    answers it 409."""
    conflicts = set(event_conflicts(prepared.events, appended, now=now))
    for index in sorted(conflicts):
        file, where = origins[index]
        summary.conflicts.append(Problem(file, where, _CONFLICT.format(event_id=appended[index].event_id)))
    created = sum(1 for item in appended if not item.duplicate)
    summary.imported += created
    summary.duplicates += len(appended) - created - len(conflicts)


def _batches(run: _Run, sources, chosen: ModuleType | None) -> Iterator[tuple[Prepared, list[tuple[str, str]]]]:
    """Every batch of every file, made ready for chain_append, with where each event was read;
    unreadable files are noted."""
    for name, stream in sources:
        try:
            for batch in _file_batches(run, name, stream, chosen):
                yield chain_prepare(batch.events), batch.origins
        except FileUnreadable as error:
            run.summary.unreadable.append(Problem(name, error.where, error.reason + _stored_note(run.summary, name)))
    for batch in run.released():
        yield chain_prepare(batch.events), batch.origins
    if run.events:
        batch = run.take()
        yield chain_prepare(batch.events), batch.origins


_END = object()


def _ahead(items: Iterator, depth: int = AHEAD) -> Iterator:
    """`items`, produced in a thread up to `depth` ahead of the consumer; its exceptions re-raised here."""
    channel: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            put(error)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = channel.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _stored_note(summary: ImportSummary, name: str) -> str:
    return "; nothing of this file was imported" if name not in summary.files else ""


def _file_batches(run: _Run, name: str, stream: BinaryIO, chosen: ModuleType | None) -> Iterator[_Batch]:
    """The batches of one file. When the file turns unreadable part way (gzip cut short, too
    large once decompressed), the records read before that point are imported like the ones
    of earlier batches, and the problem is raised for the caller to report."""
    state = {"module": chosen}
    pending: list[_Pending] = []
    try:
        for located in documents(stream, csv_ok=_csv_ok(chosen), max_bytes=run.max_bytes):
            _take(run, name, located, state, pending)
            if len(pending) >= run.batch_size:
                yield from run.records(name, state["module"], pending)
                pending = []
    except FileUnreadable:
        if pending:
            yield from run.records(name, state["module"], pending)
        raise
    if pending:
        yield from run.records(name, state["module"], pending)
    run.summary.files.setdefault(name, state["module"].NAME if state["module"] else "")


def _csv_ok(chosen: ModuleType | None) -> bool:
    if chosen is not None:
        return bool(getattr(chosen, "CSV", False))
    return any(getattr(module, "CSV", False) for module in FORMATS.values())


def _take(run: _Run, name: str, located: Located, state: dict, pending: list[_Pending]) -> None:
    """Add the records of one document to `pending` (refusing a document that holds none)."""
    if isinstance(located.document, ValueError):
        run.summary.read += 1
        run.summary.refused.append(Problem(name, located.where, str(located.document)))
        return
    if state["module"] is None or name not in run.summary.files:
        state["module"] = _format_for(name, located, state["module"])
        run.summary.files[name] = state["module"].NAME
    module = state["module"]
    try:
        records = module.records(located.document)
    except Exception:  # noqa: BLE001 - a container of the wrong shape is reported, not a crash
        records = None
    if records is None:
        run.summary.read += 1
        run.summary.refused.append(Problem(name, located.where or "record 1", f"is not a {module.LABEL} record"))
        return
    for index, record in enumerate(records):
        pending.append(_Pending(_where(located.where, index, len(records)), record))


def _where(where: str, index: int, count: int) -> str:
    if not where:
        return f"record {index + 1}"
    return where if count == 1 else f"{where}, record {index + 1}"


def _format_for(name: str, located: Located, chosen: ModuleType | None) -> ModuleType:
    """The format of a file, from its first document: the chosen one if it fits, else the one
    detected; a file that fits none, or another format than the one chosen, is unreadable."""
    found = format_detect(located.document)
    where = located.where or "record 1"
    if chosen is not None:
        if chosen in found or not found:
            # Records that fit no format at all are refused one by one with their reasons.
            return chosen
        others = " or ".join(module.LABEL for module in found)
        raise FileUnreadable(where, f"this is not {chosen.LABEL}: it looks like {others}; choose that format or auto")
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileUnreadable(where, "the format cannot be told from the content (it looks like none of: "
                                    f"{', '.join(m.LABEL for m in FORMATS.values())}); choose one")
    raise FileUnreadable(where, f"the format is ambiguous ({', '.join(m.LABEL for m in found)}); choose one")
