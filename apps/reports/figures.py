"""The figures of a report, aggregated in PostgreSQL.

A report is a list of *items* (a section, or one piece of evidence of a control), each a query
in the query language. All items of a report are counted in ONE pass over the period's events
(`items_figures`): every item becomes a boolean column of the scan, and one GROUP BY GROUPING
SETS gives, per item, the count, the counts per day (or hour), per outcome and per severity,
the top actors, actions and resources, and how many distinct actors and resources there are.
Memory stays bounded whatever the period: rows never reach Python, only the ranked groups do.

Every read starts from `Event.objects.visible_to(principal)`: a report shows what the person
(or token) who asked for it may see, and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q, TextField, Value
from django.db.models.functions import Concat, NullIf

from apps.events.models import Event
from apps.events.query import parse_query

TOP = 10
REPORT_WORK_MEM = "256MB"
OUTCOMES = ("success", "failure", "denied", "error", "unknown")
SEVERITIES = ("info", "low", "medium", "high", "critical")
# Dimensions ranked per item; the position is the bit GROUPING() gives when the column is
# *not* grouped (the first listed is the highest bit).
_DIMENSIONS = ("bucket", "actor", "action", "outcome", "severity", "resource")


# "type:id" of the resource an event acted on; NULL when it names none.
_RESOURCE = NullIf(Concat(F("resource_type"), Value(":", output_field=TextField()), F("resource_id"),
                          output_field=TextField()), Value(":", output_field=TextField()), output_field=TextField())


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


def subject_q(subject: str) -> Q:
    """One person: by actor id, email or name, as the viewer's `actor:` does, exactly."""
    value = subject.strip()
    return Q(actor_id__iexact=value) | Q(actor_email__iexact=value) | Q(actor_name__iexact=value)


def items_figures(events, items: list[Item], *, start: datetime, end: datetime, top: int = TOP) -> dict[str, dict]:
    """Figures for every item over `events`, in one scan. Keys of the result are the items' keys."""
    if not items:
        return {}
    step = step_of(start, end)
    compiled = [parse_query(item.query, now=end) for item in items]
    # Scan only the events some item can count; an item that matches everything (an empty Q,
    # e.g. the summary's `time = all`) means every event is scanned. (`Q() | q` is just `q`.)
    prefilter = Q()
    if all(compiled):
        for q in compiled:
            prefilter |= q
    flags = {f"i{n}": ExpressionWrapper(q if q else Q(pk__isnull=False), output_field=BooleanField())
             for n, q in enumerate(compiled)}
    inner = events.filter(prefilter).order_by().annotate(
        _resource=_RESOURCE, **flags,
    ).values("occurred_at", "actor_id", "action", "outcome", "severity", "_resource", *flags)
    inner_sql, params = inner.query.sql_with_params()

    n_items = len(items)
    counts = ", ".join(f"count(*) FILTER (WHERE s.i{n}) AS c{n}" for n in range(n_items))
    columns = ", ".join(f"c{n}" for n in range(n_items))
    full = (1 << len(_DIMENSIONS)) - 1
    bit = {name: 1 << (len(_DIMENSIONS) - 1 - i) for i, name in enumerate(_DIMENSIONS)}
    group_of = {full ^ bit[name]: name for name in _DIMENSIONS}
    resource_g = full ^ bit["resource"]
    # Every group but the resources' comes back whole (days, actors, actions, outcomes and
    # severities are few); of the resources, which can be millions, only how many each item
    # touches (one row, g = -1) and each item's top ones (a top-N scan each, not a sort).
    distinct = ", ".join(f"count(*) FILTER (WHERE c{n} > 0)" for n in range(n_items))
    tops = "".join(
        f" UNION ALL (SELECT g, k, {columns} FROM agg WHERE g = {resource_g} AND k <> '' AND c{n} > 0"
        f" ORDER BY c{n} DESC, k LIMIT {int(top)})"
        for n in range(n_items)
    )
    sql = f"""
        WITH s AS ({inner_sql}),
        agg AS MATERIALIZED (
            SELECT GROUPING(b, s.actor_id, s.action, s.outcome, s.severity, s._resource) AS g,
                   COALESCE(to_char(b, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), s.actor_id, s.action, s.outcome, s.severity,
                            s._resource, '') AS k,
                   {counts}
            FROM s, LATERAL (SELECT date_trunc(%s, s.occurred_at AT TIME ZONE 'UTC') AS b) AS t
            GROUP BY GROUPING SETS ((), (b), (s.actor_id), (s.action), (s.outcome), (s.severity), (s._resource))
        )
        SELECT g, k, {columns} FROM agg WHERE g <> {resource_g}
        UNION ALL SELECT -1, '', {distinct} FROM agg WHERE g = {resource_g} AND k <> ''
        {tops}
    """
    with transaction.atomic(), connection.cursor() as cursor:
        # One statement does all the grouping: give its hash tables room, so that the groups of
        # a long period stay in memory instead of spilling to disk.
        cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        # JIT-compiling this wide statement costs more than it saves (8-15 s measured at 1M).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [*params, step])
        rows = cursor.fetchall()

    by_group: dict[str, list] = {name: [] for name in _DIMENSIONS}
    totals, resources_touched, resource_rows = None, None, {}
    for row in rows:
        g, k = row[0], row[1]
        if g == full:
            totals = row
        elif g == -1:
            resources_touched = row
        elif g == resource_g:
            resource_rows[k] = row
        else:
            by_group[group_of[g]].append(row)
    by_group["resource"] = list(resource_rows.values())

    result = {}
    for n, item in enumerate(items):
        col = 2 + n
        figures = {
            "events": totals[col] if totals else 0, "unique_actors": 0,
            "resources_affected": resources_touched[col] if resources_touched else 0, "actions": 0,
            "by_outcome": {o: 0 for o in OUTCOMES}, "by_severity": {s: 0 for s in SEVERITIES},
            "series": {}, "top_actors": [], "top_actions": [], "top_resources": [], "step": step,
        }
        for row in by_group["bucket"]:
            if row[col]:
                figures["series"][row[1]] = row[col]
        for row in by_group["outcome"]:
            key = row[1] or "unknown"
            figures["by_outcome"][key] = figures["by_outcome"].get(key, 0) + row[col]
        for row in by_group["severity"]:
            figures["by_severity"][row[1]] = figures["by_severity"].get(row[1], 0) + row[col]
        for name, total_key in (("actor", "unique_actors"), ("action", "actions"), ("resource", None)):
            present = [(row[1], row[col]) for row in by_group[name] if row[col] and row[1]]
            if total_key:
                figures[total_key] = len(present)
            present.sort(key=lambda pair: (-pair[1], pair[0]))
            figures[f"top_{name}s"] = present[:top]
        for name in ("actors", "actions", "resources"):
            figures[f"top_{name}"].sort(key=lambda pair: (-pair[1], pair[0]))
        figures["series"] = series_filled(figures["series"], start=start, end=end, step=step)
        result[item.key] = figures
    return result


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


NOTABLE = Q(severity__in=("high", "critical")) | Q(outcome__in=("failure", "denied", "error"))


def notable_events(events, query: str, *, end: datetime, limit: int, notable_only: bool = True) -> list[Event]:
    """The newest events of an item that an auditor would look at first (high severity or not a
    success); all of the item's newest events when none of them is notable."""
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
    inner = events.order_by().annotate(_resource=_RESOURCE).values(
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
