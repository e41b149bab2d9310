"""Seeding the log with demo events: plan sessions, generate them in time order, append.

Speed matters (a million events in well under two minutes on two cores), so the work is laid
out as a pipeline: this thread generates events while a second thread appends the previous
batch through chain_append, whose database round trips release the GIL. Events are handed
to the chain in occurred_at order, so the chain follows time.
"""
from __future__ import annotations

import bisect
import gc
import queue
import random
import secrets
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Callable

from django.db import connection, connections
from django.utils import timezone

from apps.events.chain import chain_append, chain_prepare
from apps.demo.generator.build import Builder, to_datetime, to_micros
from apps.demo.generator.bulk import IndexRebuild, indexes_deferred, indexes_restore, load_settings
from apps.demo.generator.sessions import RUN_SIZES, RUNS, person_session
from apps.demo.generator.stories import Story, stories_make
from apps.events.rollups import rollups_catch_up
from apps.demo.generator.world import build_world

DAY = 86_400_000_000
# Hours people start a session at, in their own time zone (office hours, a dip at lunch).
_HOURS = (8, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 13, 13, 14, 14, 14, 14, 15, 15, 15, 16, 16, 16, 17, 17, 18, 19, 21)
# Teams with on-call duty work at night now and then; admins never do (see the off-hours story).
_OFF_HOURS = {"platform": 0.03, "security": 0.02, "developer": 0.01}
# The share of sessions that are people rather than automation: about three events in four.
_PEOPLE_SHARE = 0.62
_FLUSH = 20_000
_first = itemgetter(0)
# From this many events on (and when they at least double the log), the events table's secondary
# indexes but the trigram one are dropped for the load and built once after it (apps.demo.generator.bulk).
BULK_MIN_EVENTS = 200_000


@dataclass
class SeedResult:
    requested: int
    created: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    first_seq: int | None = None
    last_seq: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    seed: int = 0
    stories: list[Story] = field(default_factory=list)
    indexes: IndexRebuild | None = None

    @property
    def rate(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0


def _owns_the_events_table() -> bool:
    """Whether this session may drop and build audit_event's indexes (the console's role may not)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'audit_event'::regclass")
        return cursor.fetchone()[0]


def demo_seed(*, events: int, days: int = 90, seed: int | None = None, end: datetime | None = None,
              batch_size: int = 20_000, progress: Callable[[int, float], None] | None = None,
              bulk: bool | None = None, log: Callable[[str], None] | None = None) -> SeedResult:
    """Append `events` realistic demo events spread over the `days` before `end` (default now).

    The same seed and end give the same events. Appends are committed batch by batch (the
    chain is valid after each), not in one transaction: a million events in one transaction
    would hold the chain-head lock for the whole run. When called inside a transaction (as in
    tests) everything runs in the caller's thread and transaction instead.

    A bulk load (by default from BULK_MIN_EVENTS events on, when they at least double the log)
    drops the events table's secondary indexes and builds them again at the end; see
    apps.demo.generator.bulk. Indexes a killed bulk load left dropped are built first, always.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    seed = secrets.randbits(32) if seed is None else seed
    end = end or timezone.now()
    if timezone.is_naive(end):
        raise ValueError("end must be an aware datetime")
    end_us = to_micros(end)
    start_us = end_us - days * DAY
    began = time.perf_counter()
    owner = _owns_the_events_table()
    if bulk and not owner:
        raise ValueError("a bulk load drops and builds again the events table's indexes, which only their owner "
                         "may do: run it as the owner role (DATABASE_URL=$DATABASE_OWNER_URL; README, Database roles)")
    if owner:
        indexes_restore(log=log)
    if bulk is None:
        bulk = owner and events >= BULK_MIN_EVENTS and not connection.in_atomic_block and events >= _stored_events()
    rng = random.Random(seed)
    b = Builder(rng, build_world(rng), ids=random.Random(f"{seed}:{end_us}"))
    stories = stories_make(b, start_us, end_us)
    pending = [event for story in stories for event in story.events]
    if events < len(pending):
        raise ValueError(f"events must be at least {len(pending)} to hold the stories")
    plan = _plan(b, events - len(pending), start_us, end_us, days)
    result = SeedResult(requested=events, start=to_datetime(start_us), end=to_datetime(end_us), seed=seed,
                        stories=stories)
    watch = {event_id for story in stories for event_id in story.event_ids}

    # Generation makes millions of small acyclic objects; the cyclic collector would only walk
    # them over and over, so it is paused for the run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        threaded = not connection.in_atomic_block
        # A bulk load appends without counting for the rollups; a thread of its own counts the
        # appended events meanwhile (on PostgreSQL's side of the machine, which the load leaves
        # idle) and the rest once the last is appended, while the indexes are built.
        follow = bulk and threaded
        with (_RollupFollower() if follow else nullcontext()), \
                (indexes_deferred(log=log) if bulk else nullcontext()) as rebuild, \
                _Appender(threaded=threaded, watch=watch, count_rollups=not follow, bulk=bulk) as appender:
            out: list[dict] = []
            sent = 0
            for session_start, _, runner, actor, budget in plan:
                made = runner(b, actor, session_start, budget)
                if max(made, key=_first)[0] > end_us:
                    _pull_back(b, made, session_start, end_us)
                pending.extend(made)
                if len(pending) >= _FLUSH:
                    # Every later session starts at or after this one, so whatever happened
                    # before its start is complete and can go to the chain in order.
                    pending.sort(key=_first)
                    cut = bisect.bisect_left(pending, session_start, key=_first)
                    out.extend(event for _, event in pending[:cut])
                    del pending[:cut]
                    while len(out) >= batch_size:
                        appender.send(out[:batch_size])
                        del out[:batch_size]
                        sent += batch_size
                        if progress:
                            progress(sent, time.perf_counter() - began)
            pending.sort(key=_first)
            out.extend(event for _, event in pending)
            for i in range(0, len(out), batch_size):
                appender.send(out[i:i + batch_size])
        if progress:
            progress(events, time.perf_counter() - began)
    finally:
        if gc_was_enabled:
            gc.enable()

    result.indexes = rebuild
    result.created, result.duplicates = appender.created, appender.duplicates
    result.first_seq, result.last_seq = appender.first_seq, appender.last_seq
    for story in stories:
        seqs = [appender.seqs[event_id] for event_id in story.event_ids if event_id in appender.seqs]
        story.seqs = (min(seqs), max(seqs)) if seqs else None
    result.seconds = time.perf_counter() - began
    return result


def _stored_events() -> int:
    """How many events the log holds, about (the chain head's seq: retention only removes a few)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce((SELECT seq FROM audit_chain_head WHERE id = 1), 0)")
        return cursor.fetchone()[0]


def _pull_back(b: Builder, made: list, start: int, end: int) -> None:
    """Events a session would make after the end of the window happen in its last stretch instead."""
    for index, (t, event) in enumerate(made):
        if t > end:
            t = start + int(b.random() * (end - start))
            event["occurred_at"], event["event_id"] = to_datetime(t), b.event_id(t)
            made[index] = (t, event)


def _plan(b: Builder, total: int, start: int, end: int, days: int) -> list[tuple]:
    """Sessions (start, index, runner, actor, budget) whose budgets add up to exactly `total`."""
    rng, random_ = b.rng, b.random
    people, services = b.world.people, b.world.services
    people_weights = list(_cumulative(p.activity for p in people))
    service_weights = list(_cumulative(svc.activity for svc in services))
    end_dates = [to_datetime(end).astimezone(p.tz).date() for p in people]
    plan, planned = [], 0
    while planned < total:
        if random_() < _PEOPLE_SHARE:
            index = bisect.bisect(people_weights, random_() * people_weights[-1])
            person = people[index]
            t = _office_hours(b, person, end_dates[index], start, end, days)
            budget, runner, actor = 2 + min(int(rng.expovariate(1 / 6.5)), 60), person_session, person
        else:
            service = services[bisect.bisect(service_weights, random_() * service_weights[-1])]
            if service.runs == "backup":
                # Nightly: the backup window opens at 01:00 UTC.
                day = start - start % DAY + int(random_() * (days + 1)) * DAY
                t = day + int((1 + 2.5 * random_()) * 3_600_000_000)
                if not start <= t < end:
                    t = start + int(random_() * (end - start))
            else:
                t = start + int(random_() * (end - start))
            budget = 1 + int(rng.expovariate(1 / RUN_SIZES[service.runs]))
            runner, actor = RUNS[service.runs], service
        budget = min(budget, total - planned)
        plan.append((t, len(plan), runner, actor, budget))
        planned += budget
    plan.sort(key=lambda item: (item[0], item[1]))
    return plan


def _cumulative(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def _office_hours(b: Builder, person, end_date, start: int, end: int, days: int) -> int:
    """A start time in the person's working hours (their own time zone), mostly on weekdays."""
    random_ = b.random
    night = _OFF_HOURS.get(person.team, 0.0)
    for _ in range(6):
        day = end_date - timedelta(days=int(random_() * (days + 1)))
        if day.weekday() >= 5 and random_() < 0.85:
            continue
        hour = int(random_() * 24) if random_() < night else _HOURS[int(random_() * len(_HOURS))]
        local = datetime(day.year, day.month, day.day, hour, int(random_() * 60), int(random_() * 60), tzinfo=person.tz)
        t = to_micros(local) + int(random_() * 1_000_000)
        if start <= t < end:
            return t
    return start + int(random_() * (end - start))


class _Appender:
    """Hands batches to chain_append, in a second thread unless a transaction is open.

    A second thread has its own database connection, which would not see (or be part of) the
    caller's transaction; so inside one, batches are appended inline. The thread's connection
    of a bulk load runs with bulk.load_settings (its COPYs add to the kept trigram index's
    pending list, which bulk merges on a connection of its own); the caller's is left as it is.
    """

    def __init__(self, *, threaded: bool, watch: set[str], count_rollups: bool = True, bulk: bool = False) -> None:
        self.threaded = threaded
        self.bulk = bulk
        # Canonical text of the metadata dicts events share (never changed once made; see
        # apps.demo.generator.build), by identity: chain_prepare's `texts`.
        self.texts: dict = {}
        self.watch = watch
        self.count_rollups = count_rollups
        self.seqs: dict[str, int] = {}
        self.created = self.duplicates = 0
        self.first_seq = self.last_seq = None
        self.error: BaseException | None = None
        if threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=2)
            self.thread = threading.Thread(target=self._work, name="seed-demo-append", daemon=True)
            self.thread.start()

    def __enter__(self) -> "_Appender":
        return self

    def __exit__(self, *exc_info) -> None:
        if self.threaded:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise self.error

    def send(self, batch: list[dict]) -> None:
        if self.error is not None:
            raise self.error
        if self.threaded:
            # Prepared here, in the generating thread, while the appending one waits for the
            # previous batch's COPY: its turn under the chain-head lock is then only hashing
            # and COPY.
            if len(self.texts) > 100_000:
                self.texts.clear()
            self.queue.put(chain_prepare(batch, texts=self.texts))
        else:
            self._append(batch)

    def _work(self) -> None:
        try:
            if self.bulk:
                try:
                    with connection.cursor() as cursor:
                        load_settings(cursor)
                except BaseException as exc:  # handed to the generating thread
                    self.error = exc
            while (batch := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        self._append(batch)
                    except BaseException as exc:  # handed to the generating thread
                        self.error = exc
        finally:
            connections.close_all()

    def _append(self, batch) -> None:
        watch, seqs = self.watch, self.seqs
        for item in chain_append(batch, count_rollups=self.count_rollups):
            if item.duplicate:
                self.duplicates += 1
                continue
            self.created += 1
            if self.first_seq is None:
                self.first_seq = item.seq
            self.last_seq = item.seq
            if item.event_id in watch:
                seqs[item.event_id] = item.seq


class _RollupFollower:
    """Counts a bulk load's events for the dashboard's rollups (rollups_catch_up) in a thread
    with its own connection, as they are committed; on leaving, counts the rest and waits.

    The appends leave RollupState behind them (count_rollups=False), so whatever else appends
    meanwhile (the ingest API) is not counted by ingest either, and the catch-up counts it too.
    """

    CHUNK = 50_000

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="seed-demo-rollups", daemon=True)

    def __enter__(self) -> "_RollupFollower":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise self.error

    def _work(self) -> None:
        analyzed = 0
        try:
            while not self.done.is_set():
                analyzed = _analyze_as_it_grows(analyzed)
                if rollups_catch_up(chunk=self.CHUNK) == 0:
                    self.done.wait(0.5)
            rollups_catch_up(chunk=self.CHUNK)
        except BaseException as exc:  # handed to the generating thread
            self.error = exc
        finally:
            connections.close_all()


def _analyze_as_it_grows(analyzed: int) -> int:
    """ANALYZE the events table each time it has more than doubled since the last time (from
    20,000 events on); the number of events it held when last analyzed.

    Without statistics, the planner takes a table just filled for one whose rows lie in random
    order, and would rather count a catch-up's next 50,000 events by scanning and sorting the
    whole table than by reading them in seq order from the primary key; where autovacuum is off
    (the bench machine) or has not come round yet, nothing else analyzes it during a load.
    """
    stored = _stored_events()
    if stored >= max(2 * analyzed, 20_000):
        with connection.cursor() as cursor:
            # SKIP_LOCKED: once the load is done, the index builds hold the table's SHARE lock,
            # which ANALYZE would wait for; the rebuild ANALYZEs the table itself after them.
            cursor.execute("ANALYZE (SKIP_LOCKED) audit_event")
        return stored
    return analyzed
