"""Reads of the dashboard: activity summary, security signals, compliance and ingestion health.

Where the numbers come from:

- A user who sees every event (their scope is the whole log: superuser, or a role with
  events.view_all_events on no project and no time window) gets the panels from the rollups
  (apps.events.rollups), so a 30-day summary costs the same at 10M events as at 10k.
- A user whose scope is "events whose actor is one of these people" and nothing else (Regular
  User, Manager) gets them from the per-actor rollups (apps.events.actor_rollups), plus the
  events those do not count yet (after ActorRollupState.seq, the worker's last catch-up)
  counted from the events table through `Event.objects.visible_to(user)`.
- Anyone else (project- or window-limited roles) gets the same panels counted from the events
  table through `Event.objects.visible_to(user)`: their scope is what no rollup splits.
  Compliance and ingestion health, which describe the whole log, are shown only to the first.

The dashboard shows the events systems sent, or with `console=True` the console's own records
(category `audit`, apps.search.activity): the rollups count the two apart (`console:<dimension>`,
apps.events.rollups.CONSOLE_PREFIX), and every count from the events table is narrowed by the
same condition, so both views are exact and cost what the whole dashboard cost before.

All of a dashboard's reads are one REPEATABLE READ snapshot, so a rollup and the events after
its seq are read at the same moment and no event is counted twice or missed.

Every count links to the viewer with a query (and a start_date equal to the window's first
bucket) that gives the same number for the same user: the security signals are defined once
(apps.events.security_signals), as a query of the query language and as the equivalent test on an event's fields,
which is what ingest counts (tests/dashboard/test_dashboard.py checks they agree).

At about 420 lines it stays one module: the three ways of counting (rollups, per-actor rollups,
the events table) fill the same panels and must be read in the one snapshot above.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from urllib.parse import urlencode

from django.db import connection, transaction
from django.db.models import Count, F, Q, TextField, Value
from django.db.models.functions import Coalesce, Lower, NullIf, Trunc
from django.urls import reverse
from django.utils import timezone

from apps.events import rollups
from apps.events.actor_rollups import ActorRollups, actor_keys, tail_counts
from apps.events.models import Checkpoint, Event, VerificationRun
from apps.events.rollup_tops import rollup_top_bounded
from apps.events.security_signals import SIGNALS, Signal
from apps.events.time_bounds import time_shift
from apps.rbac.grants import grants_of
from apps.rbac.scoping import event_scope
from apps.search.activity import CONSOLE, SYSTEMS, activity_q


# --- periods ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    key: str
    label: str
    # The series' bucket, the top lists' bucket, and how many series buckets the window holds.
    series: str
    tops: str
    buckets: int


PERIODS = {
    "24h": Period("24h", "Last 24 hours", "hour", "hour", 24),
    "7d": Period("7d", "Last 7 days", "hour", "day", 7 * 24),
    "30d": Period("30d", "Last 30 days", "day", "day", 30),
}


def audit_window(user) -> tuple[datetime, datetime] | None:
    """The fixed window every one of the user's grants is limited to (an External Auditor's), else None.

    Such a user's dashboard opens on that window rather than on the last hours, which for a
    past audit period are empty.
    """
    if getattr(user, "is_superuser", False):
        return None
    grants = grants_of(user)
    if not grants or any(grant.window_start is None or grant.window_end is None for grant in grants):
        return None
    return min(grant.window_start for grant in grants), max(grant.window_end for grant in grants)


def window_period(start: datetime, end: datetime) -> Period:
    """A Period over a fixed window: hourly bars up to three days, daily beyond."""
    step = "hour" if end - start <= timedelta(days=3) else "day"
    label = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    return Period("window", label, step, "day", 0)


def window_start(period: Period, now: datetime) -> datetime:
    """The first bucket of the window: whole buckets, so rollups and the viewer count the same."""
    step = timedelta(hours=1) if period.tops == "hour" else timedelta(days=1)
    count = period.buckets if period.tops == period.series else period.buckets // 24
    return rollups.floor_time(now, period.tops) - step * (count - 1)


# --- the panels ------------------------------------------------------------------------------

@dataclass
class Ranked:
    value: str
    count: int
    url: str


@dataclass
class SignalCount:
    signal: Signal
    count: int
    url: str


@dataclass
class Dashboard:
    period: Period
    start: datetime
    now: datetime
    from_rollups: bool
    # "rollups" (the whole log), "actor rollups" (and the events after them) or "events".
    counted_from: str
    total: int
    series: list[tuple[datetime, int]]
    series_step: str
    categories: list[Ranked]
    actions: list[Ranked]
    actors: list[Ranked]
    resources: list[Ranked]
    outcomes: list[Ranked]
    signals: list[SignalCount]
    recent: list = field(default_factory=list)
    compliance: dict | None = None
    ingestion: dict | None = None
    console: bool = False
    # A fixed window (an auditor's): its end; the period is over when it is before now.
    end: datetime | None = None

    @property
    def is_over(self) -> bool:
        return self.end is not None and self.end <= self.now


def sees_everything(user) -> bool:
    """Whether the user's scope is the whole log (an empty condition), so rollups apply."""
    scope = event_scope(user)
    return not scope


def viewer_url(*, start: datetime, query: str = "", console: bool = False, end: datetime | None = None) -> str:
    params = {"start_date": start.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if end is not None:
        # The filter bar's end is inclusive to the second: the last second before `end`.
        params["end_date"] = (end - timedelta(seconds=1)).astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if query:
        params["q"] = query
    if console:
        params["activity"] = CONSOLE
    return reverse("events:list") + "?" + urlencode(params)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The query that finds one value of a dimension, as the viewer reads it. An actor is listed
# under its email, else its id (the rollups' key), so its link asks for exactly that: the email,
# or the id of events without an email. `actor:{}` would also find the id among events listed
# under their email ("alice" with alice@example.com), and so give a larger number.
_DIMENSION_QUERY = {
    "category": "category:{0}", "action": "action:{0}", "resource": "resource_id:{0}",
    "actor": "actor.email:{0} OR (actor.id:{0} AND NOT actor.email:*)",
    "outcome": "outcome:{0}", "severity": "severity:{0}", "project": "project:{0}",
}


def _ranked(dimension: str, rows, start: datetime, console: bool = False, end: datetime | None = None) -> list[Ranked]:
    return [
        Ranked(value, count, viewer_url(start=start, query=_DIMENSION_QUERY[dimension].format(quoted(value)) if value else "",
                                        console=console, end=end))
        for value, count in rows
    ]


@contextmanager
def _snapshot():
    """One REPEATABLE READ transaction for the block (unless a transaction is already open)."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def dashboard_get(*, user, period_key: str = "24h", now: datetime | None = None, console: bool = False,
                  window: tuple[datetime, datetime] | None = None) -> Dashboard:
    """Every panel of the dashboard for `user` over the period (24h, 7d or 30d), or over a fixed
    `window` (start, end): the events systems sent, or with `console` the console's own records."""
    with _snapshot():
        return _dashboard(user=user, period_key=period_key, now=now, console=console, window=window)


def _dashboard(*, user, period_key: str, now: datetime | None, console: bool = False,
               window: tuple[datetime, datetime] | None = None) -> Dashboard:
    now = now or timezone.now()
    kind = activity_q(CONSOLE if console else SYSTEMS)
    if window is not None:
        # A fixed window is counted from the events table (the rollups count from a time on, to now).
        period = window_period(*window)
        start, end = window
        counts = _ScopedCounts(user, period, start, kind=kind, end=end)
        series = _fill(counts.series(), rollups.floor_time(start, period.series), min(end, now) - timedelta(microseconds=1),
                       period.series)
        board = Dashboard(
            period=period, start=start, now=now, end=end, from_rollups=False, counted_from=counts.source,
            total=sum(count for _, count in series), series=series, series_step=period.series,
            categories=_ranked("category", counts.top("category", 12), start, console, end),
            actions=_ranked("action", counts.top("action", 10), start, console, end),
            actors=_ranked("actor", counts.top("actor", 10), start, console, end),
            resources=_ranked("resource", counts.top("resource", 10), start, console, end),
            outcomes=_ranked("outcome", counts.top("outcome", 6), start, console, end),
            signals=[SignalCount(signal, count, viewer_url(start=start, end=end, query=signal.query, console=console))
                     for signal, count in zip(SIGNALS, counts.signal_counts())],
            recent=list(Event.objects.visible_to(user).filter(kind, occurred_at__gte=start, occurred_at__lt=end)
                        .newest_first()[:12]),
            console=console,
        )
        return board
    period = PERIODS.get(period_key) or PERIODS["24h"]
    start = window_start(period, now)
    everything = sees_everything(user)
    if everything:
        counts = _RollupCounts(period, start, console=console)
    else:
        keys = actor_keys(event_scope(user))
        counts = (_ActorCounts(user, keys, period, start, console=console) if keys
                  else _ScopedCounts(user, period, start, kind=kind))
    series = _fill(counts.series(), start, now, period.series)
    board = Dashboard(
        period=period, start=start, now=now, from_rollups=everything, counted_from=counts.source,
        total=sum(count for _, count in series), series=series, series_step=period.series,
        categories=_ranked("category", counts.top("category", 12), start, console),
        actions=_ranked("action", counts.top("action", 10), start, console),
        actors=_ranked("actor", counts.top("actor", 10), start, console),
        resources=_ranked("resource", counts.top("resource", 10), start, console),
        outcomes=_ranked("outcome", counts.top("outcome", 6), start, console),
        signals=[SignalCount(signal, count, viewer_url(start=start, query=signal.query, console=console))
                 for signal, count in zip(SIGNALS, counts.signal_counts())],
        recent=list(Event.objects.visible_to(user).filter(kind).newest_first()[:12]),
        console=console,
    )
    if everything and not console:
        board.compliance = compliance_get()
        board.ingestion = ingestion_get(now=now)
    return board


def _fill(counts: dict[datetime, int], start: datetime, now: datetime, step: str) -> list[tuple[datetime, int]]:
    delta = timedelta(hours=1) if step == "hour" else timedelta(days=1)
    series, moment, last = [], start, rollups.floor_time(now, step)
    while moment <= last:
        series.append((moment, counts.get(moment, 0)))
        moment += delta
    return series


class _RollupCounts:
    source = "rollups"

    def __init__(self, period: Period, start: datetime, *, console: bool = False) -> None:
        self.period, self.start = period, start
        # The console's own records are counted under their own dimension names.
        self.prefix = rollups.CONSOLE_PREFIX if console else ""

    def series(self) -> dict[datetime, int]:
        return rollups.rollup_series(granularity=self.period.series, dimension=self.prefix + "all", start=self.start)

    def top(self, dimension: str, limit: int) -> list[tuple[str, int]]:
        name = self.prefix + dimension
        if dimension in _MANY_VALUES:
            return rollup_top_bounded(granularity=self.period.tops, dimension=name, start=self.start, limit=limit)
        return rollups.rollup_top(granularity=self.period.tops, dimension=name, start=self.start, limit=limit)

    def signal_counts(self) -> list[int]:
        found = dict(rollups.rollup_top(granularity=self.period.tops, dimension=self.prefix + "signal",
                                        start=self.start, limit=None))
        return [found.get(signal.key, 0) for signal in SIGNALS]


# Dimensions with as many values as there are resources or people: summing a window of their
# rollups reads a row per value and bucket. The others have a few dozen values at most.
_MANY_VALUES = ("actor", "resource")

class _ScopedCounts:
    """The same numbers from the events table, limited to what the user may see."""

    source = "events"

    _COLUMNS = {
        "category": F("category"), "action": F("action"), "outcome": F("outcome"), "severity": F("severity"),
        "project": F("project"), "resource": F("resource_id"),
        "actor": Lower(Coalesce(NullIf(F("actor_email"), Value("")), F("actor_id"), output_field=TextField())),
    }

    def __init__(self, user, period: Period, start: datetime, *, kind: Q = Q(), end: datetime | None = None) -> None:
        self.user, self.period, self.start = user, period, start
        self.events = Event.objects.visible_to(user).filter(kind, occurred_at__gte=start)
        if end is not None:
            self.events = self.events.filter(occurred_at__lt=end)

    def series(self) -> dict[datetime, int]:
        rows = (self.events.order_by().annotate(bucket=Trunc("occurred_at", self.period.series, tzinfo=dt_timezone.utc))
                .values("bucket").annotate(n=Count("seq")).values_list("bucket", "n"))
        return {bucket: n for bucket, n in rows}

    def top(self, dimension: str, limit: int | None) -> list[tuple[str, int]]:
        events = self.events.order_by()
        if dimension in ("resource", "actor"):
            events = events.exclude(**{"resource_id": ""} if dimension == "resource" else {})
        rows = (events.annotate(value=self._COLUMNS[dimension]).values("value").annotate(n=Count("seq"))
                .order_by("-n", "value").values_list("value", "n")[:limit])
        return [(value or "", n) for value, n in rows if not (dimension == "actor" and not value)]

    def signal_counts(self) -> list[int]:
        from apps.search.filters import filter_q

        aggregates = {}
        for signal in SIGNALS:
            condition, errors = filter_q({"q": signal.query})
            aggregates[signal.key] = Count("seq", filter=condition if not errors else Q(pk__in=[]))
        found = self.events.order_by().aggregate(**aggregates)
        return [found[signal.key] for signal in SIGNALS]


class _ActorCounts:
    """The numbers of a scope that is "events whose actor is one of these people": the per-actor
    rollups up to ActorRollupState.seq, plus the events after it from the events table."""

    source = "actor rollups"

    def __init__(self, user, keys: tuple[list[str], list[str]], period: Period, start: datetime, *,
                 console: bool = False) -> None:
        self.period, self.start = period, start
        self.prefix = rollups.CONSOLE_PREFIX if console else ""
        kind = activity_q(CONSOLE if console else SYSTEMS)
        self.rollups = ActorRollups(usernames=keys[0], emails=keys[1], since=rollups.floor_time(start, "day"))
        rolled, head = rollups.actor_rollup_seq(), rollups.rollup_state()[1]
        self.tail: dict[str, list[tuple]] = {}
        if head > rolled:
            after = Event.objects.visible_to(user).filter(kind, occurred_at__gte=start, seq__gt=rolled)
            self.tail = tail_counts(after, series=period.series)
        self.window = _ScopedCounts(user, period, start, kind=kind)

    def series(self) -> dict[datetime, int]:
        counts = self.rollups.series(granularity=self.period.series, start=self.start, dimension=self.prefix + "all")
        for bucket, n in self.tail.get("series", []):
            counts[bucket] = counts.get(bucket, 0) + n
        return counts

    def top(self, dimension: str, limit: int | None) -> list[tuple[str, int]]:
        if dimension in rollups.ACTOR_DAY_ONLY and self.period.tops != "day":
            return self.window.top(dimension, limit)   # one day of these actors' events
        return self.rollups.top(granularity=self.period.tops, dimension=self.prefix + dimension, start=self.start,
                                limit=limit, plus=self.tail.get(dimension, []))

    def signal_counts(self) -> list[int]:
        found = dict(self.rollups.top(granularity=self.period.tops, dimension=self.prefix + "signal", start=self.start,
                                      limit=None, plus=self.tail.get("signal", [])))
        return [found.get(signal.key, 0) for signal in SIGNALS]


# --- compliance and ingestion ----------------------------------------------------------------

def compliance_get() -> dict:
    """Chain status (verification runs), signed checkpoints, and how fresh the rollups are."""
    from apps.events.chain import checkpoint_signature_valid

    rolled, head = rollups.rollup_state()
    last_full = VerificationRun.objects.filter(kind=VerificationRun.Kind.FULL).first()
    last_any = VerificationRun.objects.first()
    checkpoint = Checkpoint.objects.first()
    return {
        "head": head,
        "last_full": last_full,
        "last_run": last_any,
        "since_full": head - (last_full.to_seq or 0) if last_full else head,
        "since_verified": head - (last_any.to_seq or 0) if last_any and last_any.valid else head,
        "checkpoint": checkpoint,
        "checkpoint_valid": checkpoint_signature_valid(checkpoint) if checkpoint else None,
        "checkpoints": Checkpoint.objects.count(),
        "since_checkpoint": head - checkpoint.seq if checkpoint else head,
        "rollups_behind": max(head - rolled, 0),
    }


QUIET_AFTER = timedelta(hours=2)


def ingestion_get(*, now: datetime, sources: int = 6) -> dict:
    """Events per source over the last 24 hours, and sources that went quiet.

    A source is quiet when it sent events in the last 7 days but none in the last two hours.
    """
    start = rollups.floor_time(now, "hour") - timedelta(hours=23)
    top = rollups.rollup_top(granularity="hour", dimension="source", start=start, limit=sources)
    series = {}
    for value, _ in top:
        counts = rollups.rollup_series(granularity="hour", dimension="source", start=start, value=value)
        series[value] = _fill(counts, start, now, "hour")
    last_seen = rollups.rollup_last_seen(dimension="source", since=now - timedelta(days=7))
    quiet = sorted(((value, seen) for value, seen in last_seen.items()
                    if time_shift(seen, timedelta(hours=1)) < now - QUIET_AFTER), key=lambda item: item[1])
    return {"sources": top, "series": series, "quiet": quiet, "start": start}
