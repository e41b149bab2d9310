"""What the retention page and the dashboard show: per tier, events, bytes, oldest event."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from croniter import croniter
from django.db import connection
from django.db.models import Count, Min, Sum
from django.utils import timezone

from apps.rbac.roles import MANAGE_RETENTION, VIEW_RETENTION
from apps.retention.models import RetentionRun, Segment

NIGHTLY_CRON = "30 2 * * *"
# Past this many rows the hot count is PostgreSQL's estimate (a count would scan the table).
_EXACT_UNDER = 1_000_000


@dataclass
class Tier:
    name: str
    events: int
    bytes: int
    oldest: datetime | None
    segments: int | None = None
    estimated: bool = False


def tier_status() -> list[Tier]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint, pg_total_relation_size('audit_event') FROM pg_class"
                       " WHERE oid = 'audit_event'::regclass")
        estimate, hot_bytes = cursor.fetchone()
        estimated = estimate >= _EXACT_UNDER
        if estimated:
            count = estimate
        else:
            cursor.execute("SELECT count(*) FROM audit_event")
            count = cursor.fetchone()[0]
        cursor.execute("SELECT min(occurred_at) FROM audit_event")
        hot_oldest = cursor.fetchone()[0]
        cursor.execute("SELECT count(*), pg_total_relation_size('audit_chain_stub') FROM audit_chain_stub")
        stubs, stub_bytes = cursor.fetchone()
    tiers = [Tier("Hot", count, hot_bytes, hot_oldest, estimated=estimated)]
    by_state = {row["state"]: row for row in Segment.objects.values("state").annotate(
        n=Count("id"), events=Sum("count"), bytes=Sum("size"), oldest=Min("oldest_at"))}
    for state, label in ((Segment.State.WARM, "Warm"), (Segment.State.COLD, "Cold"), (Segment.State.DELETED, "Deleted")):
        row = by_state.get(state, {})
        tiers.append(Tier(label, row.get("events") or 0, 0 if state == Segment.State.DELETED else row.get("bytes") or 0,
                          row.get("oldest"), segments=row.get("n") or 0))
    tiers.append(Tier("Chain stubs", stubs, stub_bytes, None))
    return tiers


def run_next(now=None) -> datetime:
    return croniter(NIGHTLY_CRON, now or timezone.now()).get_next(datetime)


def runs_recent(limit: int = 10) -> list[RetentionRun]:
    return list(RetentionRun.objects.all()[:limit])


def dashboard_panel(*, user) -> dict | None:
    """The dashboard's retention panel (settings.DASHBOARD_PANELS): events per tier, the last run
    and the next, for those who may read the retention page."""
    if not (user.has_perm(VIEW_RETENTION) or user.has_perm(MANAGE_RETENTION)):
        return None
    return {"template": "retention/_dashboard_panel.html", "tiers": tier_status(),
            "last_run": RetentionRun.objects.first(), "next_run": run_next()}
