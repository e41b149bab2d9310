"""The figures of a report, aggregated in PostgreSQL.

A report is a list of *items* (a section, or one piece of evidence of a control), each a query
in the query language. All items of a report are counted in ONE pass over the period's events
(`items_figures`): only the events some item counts are read, each item becomes a boolean
column, and they are grouped once by (day or hour, actor, action, outcome, severity), a few
rows per day, from which the per-day, per-actor, per-action, per-outcome and per-severity
figures are summed; resources, which can be millions, are grouped once more and only how many
each item touches and each item's top ones come back. Memory stays bounded whatever the
period: rows never reach Python, only the ranked groups do.

An item that counts every event (the summary's `time = all`) would force every event of the
period through that grouping. When the report's events are the whole period (its requester
sees every event and no filter applies), such items are counted instead from the dashboard's
rollups and the events table's indexes (apps.reports.whole_period), which give the same
figures for a fraction of the cost.

Every read starts from `Event.objects.visible_to(principal)`: a report shows what the person
(or token) who asked for it may see, and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q

from apps.events.models import Event
from apps.events.query import parse_query
from apps.reports.tallies import RESOURCE, TOP, Tally, scan_tallies
from apps.reports.whole_period import whole_period_tally

REPORT_WORK_MEM = "256MB"
OUTCOMES = ("success", "failure", "denied", "error", "unknown")
SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Item:
    key: str
    query: str


def step_of(start: datetime, end: datetime) -> str:
    """Hours for periods up to two days, days beyond."""
    return "hour" if end - start <= timedelta(days=2) else "day"


def period_events(*, principal, start: datetime, end: datetime, query: str = "", subject: str = ""):
    """The events a report covers: what `principal` may see, in [start, end), matching its filters."""
    qs = Event.objects.visible_to(principal).filter(occurred_at__gte=start, occurred_at__lt=end)
    if query.strip():
        qs = qs.filter(parse_query(query, now=end))
    if subject.strip():
        qs = qs.filter(subject_q(subject))
    return qs


def sees_every_event(principal) -> bool:
    """Whether `principal` may see every event (its scope is no condition at all)."""
    from apps.rbac.scoping import event_scope

    return not event_scope(principal)


def subject_q(subject: str) -> Q:
    """One person: by actor id, email or name, as the viewer's `actor:` does, exactly."""
    value = subject.strip()
    return Q(actor_id__iexact=value) | Q(actor_email__iexact=value) | Q(actor_name__iexact=value)


def items_figures(events, items: list[Item], *, start: datetime, end: datetime, top: int = TOP,
                  whole_period: bool = False) -> dict[str, dict]:
    """Figures for every item over `events`. Keys of the result are the items' keys.

    `whole_period`: `events` are every event of [start, end), unfiltered (the requester sees
    every event, and the report has no query and no subject). The items that count every
    event are then taken from the rollups and indexes (apps.reports.whole_period); the caller
    must not say so otherwise, or those items would count events the requester may not see.
    """
    if not items:
        return {}
    step = step_of(start, end)
    compiled = [parse_query(item.query, now=end) for item in items]
    everything = [item for item, q in zip(items, compiled) if not q]
    scanned = [(item, q) for item, q in zip(items, compiled) if q or not whole_period]
    tallies: dict[str, Tally] = {}
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # Several statements count the figures: read them all from one snapshot, so that
            # they agree with each other even while events are being appended. (Inside a
            # transaction a caller began, its isolation level stands.)
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # Give the grouping's hash tables room, so that the groups of a long period stay in
        # memory instead of spilling to disk.
        cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        # JIT-compiling these wide statements costs more than it saves (8-15 s measured at 1M).
        cursor.execute("SET LOCAL jit = off")
        if whole_period and everything:
            tally = whole_period_tally(cursor, events, start=start, end=end, step=step, top=top)
            for item in everything:
                tallies[item.key] = tally
        if scanned:
            counted = scan_tallies(cursor, events, [q for _, q in scanned], step=step, top=top)
            for (item, _), tally in zip(scanned, counted):
                tallies[item.key] = tally
    return {item.key: tally_figures(tallies[item.key], start=start, end=end, step=step, top=top)
            for item in items}


def tally_figures(tally: Tally, *, start: datetime, end: datetime, step: str, top: int = TOP) -> dict:
    """An item's figures, as reports show and store them, from its tally."""
    figures = {
        "events": tally.events, "unique_actors": 0, "resources_affected": tally.resources, "actions": 0,
        "by_outcome": {o: 0 for o in OUTCOMES}, "by_severity": {s: 0 for s in SEVERITIES},
        "series": [], "top_actors": [], "top_actions": [], "top_resources": [], "step": step,
    }
    for key, count in tally.outcome.items():
        key = key or "unknown"
        figures["by_outcome"][key] = figures["by_outcome"].get(key, 0) + count
    for key, count in tally.severity.items():
        figures["by_severity"][key] = figures["by_severity"].get(key, 0) + count
    for name, total_key in (("actor", "unique_actors"), ("action", "actions")):
        present = [(key, count) for key, count in getattr(tally, name).items() if count and key]
        figures[total_key] = len(present)
        present.sort(key=lambda pair: (-pair[1], pair[0]))
        figures[f"top_{name}s"] = present[:top]
    figures["top_resources"] = sorted(tally.top_resources, key=lambda pair: (-pair[1], pair[0]))[:top]
    figures["series"] = series_filled(tally.bucket, start=start, end=end, step=step)
    return figures


def series_filled(counts: dict[str, int], *, start: datetime, end: datetime, step: str) -> list[tuple[str, int]]:
    delta = timedelta(hours=1) if step == "hour" else timedelta(days=1)
    moment = start.replace(minute=0, second=0, microsecond=0)
    if step == "day":
        moment = moment.replace(hour=0)
    out = []
    while moment < end:
        label = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append((label, counts.get(label, 0)))
        moment += delta
    return out


NOTABLE_SEVERITIES = ("high", "critical")
NOTABLE_OUTCOMES = ("failure", "denied", "error")
NOTABLE = Q(severity__in=NOTABLE_SEVERITIES) | Q(outcome__in=NOTABLE_OUTCOMES)


def has_notable(figures: dict) -> bool:
    """Whether an item counts any NOTABLE event, from its figures: some are, exactly when some
    of its events have a notable severity or some have a notable outcome."""
    return (any(figures["by_severity"].get(s) for s in NOTABLE_SEVERITIES)
            or any(figures["by_outcome"].get(o) for o in NOTABLE_OUTCOMES))


def notable_events(events, query: str, *, end: datetime, limit: int, notable_only: bool = True) -> list[Event]:
    """The newest events of an item that an auditor would look at first (high severity or not a
    success); all of the item's newest events when none of them is notable.

    Pass notable_only=False when the item is known to have no notable event (`has_notable`):
    looking for one walks the whole period backwards before giving up (seconds per item at 1M).
    """
    qs = events.filter(parse_query(query, now=end)).order_by("-occurred_at", "-seq")
    if notable_only:
        picked = list(qs.filter(NOTABLE)[:limit])
        if picked:
            return picked
    return list(qs[:limit])


def actor_labels(events, ids) -> dict[str, str]:
    """A readable name for each actor id, as the newest of the report's events gives it."""
    labels = {}
    for actor_id in ids:
        row = (events.filter(actor_id=actor_id).order_by("-occurred_at")
               .values("actor_name", "actor_email").first())
        if row and (row["actor_name"] or row["actor_email"]):
            labels[actor_id] = row["actor_name"] or row["actor_email"]
    return labels


GROUP_COLUMNS = {
    "user": "actor_id",
    "resource": "_resource",
    "event_type": "action",
}


def grouped_figures(events, *, grouping: str, limit: int = 200) -> dict:
    """Custom reports: per user, resource or event type, the event count, unique users and
    resources affected, largest first; and how many groups there are in all."""
    column = GROUP_COLUMNS[grouping]
    inner = events.order_by().annotate(_resource=RESOURCE).values(
        "actor_id", "action", "_resource")
    inner_sql, params = inner.query.sql_with_params()
    sql = f"""
        WITH s AS ({inner_sql})
        SELECT k, events, users, resources, count(*) OVER () AS groups FROM (
            SELECT s.{column} AS k, count(*) AS events, count(DISTINCT s.actor_id) AS users,
                   count(DISTINCT s._resource) AS resources
            FROM s GROUP BY s.{column}
        ) g ORDER BY events DESC, k LIMIT %s
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
    return {
        "by": grouping,
        "groups": rows[0][4] if rows else 0,
        "rows": [{"key": k, "event_count": e, "unique_users": u, "resources_affected": r} for k, e, u, r, _ in rows],
    }
