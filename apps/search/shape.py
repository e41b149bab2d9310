"""The shape of a search: its matches over time (a histogram by outcome) and the top values of a
few fields among them (facets). Both start from the visibility rule, as every read does
(`event_scope(principal)` ANDed to the search's condition), so they count what the rows show.

Histogram: counts per (bucket, outcome) over the search's time span, the bucket a minute, an
hour or a day so that the span makes at most some 180 bars (BUCKETS). Exact (one GROUP BY over
the matches in the span) for a search of at most COUNT_CAP matches, the one whose total the
list shows exactly too, and from the rollups for a span and nothing else. A search with more
matches (the list says "10,000+") is estimated from a sample: one event in a power of two, chosen
so that at most SAMPLE_ROWS events of the span are read, each match counting for that many. Counting every match of a common word over 780,000 events (a week at
10 million events) visits some 130,000 rows scattered over the table: 1.5 to 1.8 s on the bench
machine. The sample is found through the (occurred_at, seq) index alone, and the table is read
for the sampled rows only, so its cost depends on SAMPLE_ROWS, not on the matches. The events
sampled are those whose seq hashes to a multiple of the rate (PostgreSQL's hashint8): seq is
given at ingest whatever an event says, and hashing it, rather than taking every n-th, keeps a
pattern in the order events arrive (a client sending its events in batches of 8 in the same
order) from being sampled always at the same place. The histogram then says it is an estimate,
and from how many events (`approximate`, `sample_rate`).

Facets: the FACET_LIMIT most frequent values of each FACETS field, counted in one statement (one
pass, GROUPING SETS) over
the newest COUNT_CAP matches (the newest 10,000, read in time order as the page is): a search
with more matches than that has its facets counted over its newest 10,000, and says so. Below
the cap (where the list's total is exact too) every count is exact, and a value's count is the
total the viewer shows once it is added as a filter (FACET_QUERY, the same rule the dashboard
uses for its actors).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Trunc

from apps.events import rollups
from apps.events.models import Event
from apps.rbac.scoping import event_scope
from apps.events.time_bounds import time_shift
from apps.search.reads import COUNT_CAP, event_count

OUTCOMES = ("success", "failure", "denied", "error", "unknown")

# (bucket, its longest length) from the finest: the first that cuts the span into at most MAX_BARS
# bars. Months and years are calendar ones (the length is their longest, for choosing).
BUCKETS = (("minute", timedelta(minutes=1)), ("hour", timedelta(hours=1)), ("day", timedelta(days=1)),
           ("week", timedelta(days=7)), ("month", timedelta(days=31)), ("year", timedelta(days=366)))
MAX_BARS = 180

# An estimated histogram reads at most about this many events of its span (apps.search.shape's
# docstring): some 150 ms from a cold cache on the bench machine.
SAMPLE_ROWS = 8_000

FACET_LIMIT = 5
# Facet → the value an event is counted under, as SQL over the matches' columns.
FACETS = {
    "actor": "nullif(lower(CASE WHEN actor_email <> '' THEN actor_email ELSE actor_id END), '')",
    "action": "action",
    "outcome": "outcome",
    "ip": "host(ip_address)",
    "resource_type": "nullif(resource_type, '')",
    "project": "project",
}
FACET_LABELS = {"actor": "Actor", "action": "Action", "outcome": "Outcome", "ip": "Source IP",
                "resource_type": "Resource type", "project": "Project"}
_COLUMNS = ("actor_email", "actor_id", "action", "outcome", "ip_address", "resource_type", "project")


def facet_query(facet: str, value: str) -> str:
    """The query-language term that finds exactly the events a facet value counts.

    An actor is counted under its email, else its id, so it is found by that email, or by that
    id among events without an email (`actor:x` alone would also find x's id under an email).
    """
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if facet == "actor":
        return f"(actor.email:{quoted} OR (actor.id:{quoted} AND NOT actor.email:*))"
    field_name = {"ip": "ip", "resource_type": "resource.type"}.get(facet, facet)
    return f"{field_name}:{quoted}"


@dataclass
class Histogram:
    start: datetime
    end: datetime
    step: str
    # Each bar: (bucket start, bucket end, {outcome: count}), every bucket of the span in order.
    bars: list[tuple[datetime, datetime, dict[str, int]]] = field(default_factory=list)
    # Estimated from one event in `sample_rate` (each match counted `sample_rate` times), when the
    # search has more than COUNT_CAP matches; exact otherwise.
    approximate: bool = False
    sample_rate: int = 1
    # The sampled matches' facet values ({facet: value} each), kept for event_facets: the same
    # sample gives the estimated facets, with no second read.
    sample: list[dict[str, str | None]] | None = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for _, _, counts in self.bars)

    @property
    def top(self) -> int:
        return max([sum(counts.values()) for _, _, counts in self.bars] + [0])


@dataclass
class Facet:
    key: str
    label: str
    values: list[tuple[str, int]]
    # Counted from the histogram's sample (each value's count an estimate), not the newest matches.
    approximate: bool = False


def step_for(start: datetime, end: datetime) -> tuple[str, timedelta]:
    for name, length in BUCKETS:
        if (end - start) / length <= MAX_BARS:
            return name, length
    return BUCKETS[-1]


def _floor(moment: datetime, step: str) -> datetime:
    moment = moment.astimezone(dt_timezone.utc)
    if step == "minute":
        return moment.replace(second=0, microsecond=0)
    if step == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if step == "week":  # weeks start on Monday, as PostgreSQL's date_trunc has them
        return time_shift(day, -timedelta(days=day.weekday()))
    if step == "month":
        return day.replace(day=1)
    if step == "year":
        return day.replace(month=1, day=1)
    return day


def _next(moment: datetime, step: str, length: timedelta) -> datetime | None:
    """The start of the bucket after `moment`'s; None past the last representable time."""
    try:
        if step == "month":
            return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
        if step == "year":
            return moment.replace(year=moment.year + 1)
        return moment + length
    except (OverflowError, ValueError):
        return None


def event_span(*, principal, filters: Q) -> tuple[datetime, datetime] | None:
    """The first and last time of the visible matches (for a search with no time range); None if none."""
    found = Event.objects.visible_to(principal).filter(filters).aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    if found["first"] is None:
        return None
    return found["first"], found["last"]


def event_histogram(*, principal, filters: Q, start: datetime, end: datetime, only_time: bool = False,
                    many: bool | None = None) -> Histogram:
    """The visible matches of `filters` with start <= occurred_at < end, per bucket and outcome.

    `many`: whether the search has more than COUNT_CAP matches (the list's capped count says so;
    None: counted here, up to COUNT_CAP). Such a histogram is estimated from a sample (the
    module's docstring), unless the rollups answer it.

    `only_time`: the caller vouches that `filters` says nothing but "the events systems sent"
    (apps.search.activity's default) within a time range. For a principal who sees the whole log,
    such a histogram in hours or days is read from the rollups (apps.events.rollups: `outcome`
    counts systems' events only) for its whole buckets, and from the events table for the
    partial buckets at its two ends: at 10M events, a week without filters is some 2 million
    events to group, against 168 rollup rows per outcome. Only when the rollups count every
    stored event (they lag after a bulk load until the worker catches up); else, and for every
    other search, the events table.
    """
    step, length = step_for(start, end)
    if (end - start) / length > MAX_BARS:
        # A log spanning more than MAX_BARS years (events dated year 1 and 9999, say): the
        # histogram shows the newest MAX_BARS years; the results and their count are the whole.
        start = max(start, _floor(end, step).replace(year=max(1, end.year - MAX_BARS + 1)))
    first = _floor(start, step)
    counts: dict[datetime, dict[str, int]] = {}
    whole = None
    if only_time and step in ("hour", "day") and not event_scope(principal):
        rolled, head = rollups.rollup_state()
        if rolled >= head:
            whole = (first if first == start else first + length, _floor(end, step))
    if whole is None:
        if many is None:
            many = not event_count(principal=principal, filters=filters & Q(occurred_at__gte=start, occurred_at__lt=end))[1]
        if many:
            return _sampled(principal=principal, filters=filters, start=start, end=end, first=first, step=step,
                            length=length)
    if whole is not None and whole[0] < whole[1]:
        for outcome in OUTCOMES:
            series = rollups.rollup_series(granularity=step, dimension="outcome", start=whole[0], value=outcome)
            for bucket, n in series.items():
                if bucket < whole[1] and n:
                    counts.setdefault(bucket, {})[outcome] = n
        edges = Q(occurred_at__lt=whole[0]) | Q(occurred_at__gte=whole[1])
    else:
        edges = Q()
    rows = (Event.objects.visible_to(principal).filter(filters, edges, occurred_at__gte=start, occurred_at__lt=end)
            .order_by().annotate(bucket=Trunc("occurred_at", step, tzinfo=dt_timezone.utc))
            .values("bucket", "outcome").annotate(n=Count("seq")).values_list("bucket", "outcome", "n"))
    for bucket, outcome, n in rows:
        counts.setdefault(bucket, {})[outcome] = counts.get(bucket, {}).get(outcome, 0) + n
    return _bars(Histogram(start=start, end=end, step=step), counts, first, length)


def _bars(histogram: Histogram, counts: dict[datetime, dict[str, int]], first: datetime, length: timedelta) -> Histogram:
    """Every bucket of the histogram's span in order, each with its counts (none: an empty bar)."""
    moment, start, end, step = first, histogram.start, histogram.end, histogram.step
    while moment is not None and moment < end:
        following = _next(moment, step, length)
        histogram.bars.append((max(moment, start), min(following or end, end), counts.get(moment, {})))
        moment = following
    return histogram


def sample_rate_for(events_in_span: int) -> int:
    """One event in how many to read so that at most SAMPLE_ROWS are: 1 or a power of two."""
    rate = 1
    while events_in_span / rate > SAMPLE_ROWS:
        rate *= 2
    return rate


def _sampled(*, principal, filters: Q, start: datetime, end: datetime, first: datetime, step: str,
             length: timedelta) -> Histogram:
    """The histogram estimated from the span's events whose seq hashes to a multiple of the rate.

    The rate is chosen from the number of the span's events (all of them, whatever the search;
    the rollups know it). The statement takes the sampled seqs from the (occurred_at, seq) index
    (an index-only scan: the hash is computed from the index entries), and only then visits the
    table, for those rows alone, to apply the visibility rule and the search; each match found
    stands for `rate` matches.
    """
    table = Event._meta.db_table
    # The span's size, from the hourly rollups (a sum of some hundred rows); counted from the
    # (occurred_at, seq) index only when they have counted nothing yet (a log just loaded).
    in_span = rollups.rollup_events_between(start, end)
    if not in_span:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE occurred_at >= %s AND occurred_at < %s", [start, end])
            in_span = cursor.fetchone()[0]
    rate = sample_rate_for(in_span)
    histogram = Histogram(start=start, end=end, step=step, approximate=rate > 1, sample_rate=rate, sample=[])
    matches = (Event.objects.visible_to(principal).filter(filters, occurred_at__gte=start, occurred_at__lt=end)
               .order_by().values_list("seq", "occurred_at", *_COLUMNS))
    try:
        sql, params = matches.query.sql_with_params()
    except EmptyResultSet:
        return _bars(histogram, {}, first, length)
    # MATERIALIZED keeps the sample a step of its own, so the planner cannot turn the query around
    # (read every match through the search's own index, then keep the sampled ones). The facets'
    # values are computed here too, by the same SQL as the exact facets'.
    keyed = ", ".join(f"({expression})::text" for expression in FACETS.values())
    statement = (
        f"WITH sample AS MATERIALIZED (SELECT seq FROM {table} WHERE occurred_at >= %s AND occurred_at < %s"
        f" AND (hashint8(seq) & %s) = 0) "
        f"SELECT occurred_at, {keyed} FROM sample JOIN ({sql}) AS matches (seq, occurred_at, {', '.join(_COLUMNS)})"
        " USING (seq)"
    )
    counts: dict[datetime, dict[str, int]] = {}
    outcome_at = list(FACETS).index("outcome")
    with connection.cursor() as cursor:
        cursor.execute(statement, (start, end, rate - 1, *params))  # a power of two: & (rate - 1) is % rate
        for occurred_at, *values in cursor.fetchall():
            bucket = counts.setdefault(_floor(occurred_at, step), {})
            outcome = values[outcome_at]
            bucket[outcome] = bucket.get(outcome, 0) + rate
            histogram.sample.append(dict(zip(FACETS, values)))
    return _bars(histogram, counts, first, length)


def event_facets(*, principal, filters: Q, limit: int = FACET_LIMIT, histogram: Histogram | None = None) -> list[Facet]:
    """The `limit` most frequent values of each facet among the newest COUNT_CAP visible matches;
    or, when `histogram` (of the same search) was estimated from a sample, among the sampled
    matches of its span, each counted for the sample's rate (no second read: the newest 10,000 of
    a common word at 10M events are some 60,000 rows to read)."""
    if histogram is not None and histogram.approximate and histogram.sample is not None:
        return _facets_of_sample(histogram, limit)
    newest = (Event.objects.visible_to(principal).filter(filters)
              .order_by("-occurred_at", "-seq").values_list(*_COLUMNS)[:COUNT_CAP])
    try:
        sql, params = newest.query.sql_with_params()
    except EmptyResultSet:
        return [Facet(key, FACET_LABELS[key], []) for key in FACETS]
    # One pass over the matches for every facet (GROUPING SETS), each facet's top values ranked there.
    keyed = ", ".join(f"({expression})::text AS {key}" for key, expression in FACETS.items())
    which = " ".join(f"WHEN GROUPING({key}) = 0 THEN '{key}'" for key in FACETS)
    statement = (
        f"WITH matches ({', '.join(_COLUMNS)}) AS MATERIALIZED ({sql}), "
        f"keyed AS (SELECT {keyed} FROM matches), "
        f"counted AS (SELECT CASE {which} END AS facet, coalesce({', '.join(FACETS)}) AS value, count(*) AS n"
        f" FROM keyed GROUP BY GROUPING SETS ({', '.join(f'({key})' for key in FACETS)})) "
        "SELECT facet, value, n FROM (SELECT facet, value, n,"
        " row_number() OVER (PARTITION BY facet ORDER BY n DESC, value) AS rank FROM counted"
        " WHERE value IS NOT NULL) AS ranked WHERE rank <= %s ORDER BY facet, rank"
    )
    found: dict[str, list[tuple[str, int]]] = {key: [] for key in FACETS}
    with connection.cursor() as cursor:
        cursor.execute(statement, (*params, limit))
        for facet, value, n in cursor.fetchall():
            found[facet].append((value, n))
    return [Facet(key, FACET_LABELS[key], found[key]) for key in FACETS]


def _facets_of_sample(histogram: Histogram, limit: int) -> list[Facet]:
    facets = []
    for key in FACETS:
        counted = Counter(row[key] for row in histogram.sample if row[key] is not None)
        top = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:limit]
        facets.append(Facet(key, FACET_LABELS[key], [(value, n * histogram.sample_rate) for value, n in top],
                            approximate=True))
    return facets
