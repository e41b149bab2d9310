"""Counting a period's events for a report in one pass: a Tally per condition (the events, each
report item's events), each event grouped once into a small cube of time step, outcome,
severity, actor and resource. apps.reports.figures turns tallies into figures;
apps.reports.whole_period fills the same tallies from the rollups when it can.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import BooleanField, ExpressionWrapper, F, Q, TextField, Value
from django.db.models.functions import Concat, NullIf

TOP = 10

# "type:id" of the resource an event acted on; NULL when it names none.
RESOURCE = NullIf(Concat(F("resource_type"), Value(":", output_field=TextField()), F("resource_id"),
                          output_field=TextField()), Value(":", output_field=TextField()), output_field=TextField())


@dataclass
class Tally:
    """What the grouping gives for one item: its events, counted per bucket (day or hour),
    actor, action, outcome and severity (key → count, zero counts left out); how many
    resources it touches and its top ones, largest first (ties by key in the database's order)."""

    events: int = 0
    bucket: dict[str, int] = field(default_factory=dict)
    actor: dict[str, int] = field(default_factory=dict)
    action: dict[str, int] = field(default_factory=dict)
    outcome: dict[str, int] = field(default_factory=dict)
    severity: dict[str, int] = field(default_factory=dict)
    resources: int = 0
    top_resources: list[tuple[str, int]] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        """Add the counts of `other`, events none of this tally's counted (bucket, actor, action,
        outcome and severity only: resources are not additive)."""
        self.events += other.events
        for name in ("bucket", "actor", "action", "outcome", "severity"):
            mine = getattr(self, name)
            for key, count in getattr(other, name).items():
                mine[key] = mine.get(key, 0) + count


def scan_tallies(cursor, events, conditions: list[Q], *, step: str, top: int = TOP) -> list[Tally]:
    """One tally per condition (an empty Q counts every event), counted in one pass over `events`.

    The events some condition counts are read once, with a boolean per condition, into `s`.
    They are grouped by (bucket, actor, action, outcome, severity) with a count per condition:
    that cube is small (a few rows per day and actor) and every per-dimension figure is a sum
    over it, so each event is hashed once rather than once per dimension (GROUPING SETS over
    the events did that, and cannot run in parallel). Resources are grouped apart; of them
    only the number each condition touches and each condition's top ones come back.
    """
    # Read only the events some condition counts; a condition that counts everything (an
    # empty Q) means every event is read. (`Q() | q` is just `q`.)
    prefilter = Q()
    if all(conditions):
        for q in conditions:
            prefilter |= q
    flags = {f"i{n}": ExpressionWrapper(q if q else Q(pk__isnull=False), output_field=BooleanField())
             for n, q in enumerate(conditions)}
    inner = events.filter(prefilter).order_by().annotate(
        _resource=RESOURCE, **flags,
    ).values("occurred_at", "actor_id", "action", "outcome", "severity", "_resource", *flags)
    inner_sql, params = inner.query.sql_with_params()

    n_items = len(conditions)
    flag_columns = ", ".join(f"x.i{n}" for n in range(n_items))
    counts = ", ".join(f"count(*) FILTER (WHERE i{n}) AS c{n}" for n in range(n_items))
    sums = ", ".join(f"coalesce(sum(c{n}), 0)::bigint" for n in range(n_items))
    columns = ", ".join(f"c{n}" for n in range(n_items))
    touched = ", ".join(f"count(*) FILTER (WHERE c{n} > 0)" for n in range(n_items))
    tops = "".join(
        f" UNION ALL (SELECT 'top:{n}', k, {columns} FROM res WHERE c{n} > 0 ORDER BY c{n} DESC, k LIMIT {int(top)})"
        for n in range(n_items)
    )
    sql = f"""
        WITH s AS MATERIALIZED (
            SELECT date_trunc(%s, x.occurred_at AT TIME ZONE 'UTC') AS b, x.actor_id, x.action, x.outcome,
                   x.severity, x._resource, {flag_columns}
            FROM ({inner_sql}) AS x
        ),
        cube AS (
            SELECT b, actor_id, action, outcome, severity, {counts} FROM s GROUP BY 1, 2, 3, 4, 5
        ),
        res AS MATERIALIZED (
            SELECT _resource AS k, {counts} FROM s WHERE _resource IS NOT NULL GROUP BY 1
        )
        SELECT CASE WHEN GROUPING(b) = 0 THEN 'bucket' WHEN GROUPING(actor_id) = 0 THEN 'actor'
                    WHEN GROUPING(action) = 0 THEN 'action' WHEN GROUPING(outcome) = 0 THEN 'outcome'
                    WHEN GROUPING(severity) = 0 THEN 'severity' ELSE 'events' END,
               COALESCE(to_char(b, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), actor_id, action, outcome, severity, ''),
               {sums}
        FROM cube GROUP BY GROUPING SETS ((), (b), (actor_id), (action), (outcome), (severity))
        UNION ALL SELECT 'resources', '', {touched} FROM res
        {tops}
    """
    cursor.execute(sql, [step, *params])
    tallies = [Tally() for _ in range(n_items)]
    for row in cursor.fetchall():
        name, key, values = row[0], row[1], row[2:]
        if name.startswith("top:"):
            # One item's top resources (a list of its own: the ranked rows carry every item's counts).
            n = int(name[4:])
            tallies[n].top_resources.append((key, values[n]))
            continue
        for tally, count in zip(tallies, values):
            if name == "events":
                tally.events = count
            elif name == "resources":
                tally.resources = count
            elif count:
                getattr(tally, name)[key] = count
    return tallies
