"""The dashboard's rollups agree with counts taken from the events table."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone

from apps.events.dashboard import signals_of
from apps.events.ingest import event_ingest
from apps.events.models import Event, RollupBucket
from apps.events.rollups import actor_value, event_source, rollups_catch_up

pytestmark = pytest.mark.django_db


def known_events(now):
    """120 events over three days: several categories, outcomes, severities, actors and sources."""
    actions = ["auth.login", "iam.role.update", "compute.servers.create", "storage.object.read", "policy.violation.detected"]
    outcomes = ["success", "failure", "denied"]
    severities = ["info", "low", "medium", "high", "critical"]
    events = []
    for i in range(120):
        events.append({
            "event_id": f"evt_rollup_{i}",
            "timestamp": (now - timedelta(minutes=37 * i)).isoformat(),
            "action": actions[i % 5], "outcome": outcomes[i % 3], "severity": severities[i % 5],
            "project": ["p1", "p2", ""][i % 3],
            "actor": {"type": ["user", "service"][i % 2], "id": f"actor{i % 7}",
                      "email": f"Actor{i % 7}@Example.com" if i % 2 == 0 else ""},
            "resource": {"type": "server", "id": f"srv_{i % 4}"} if i % 3 else {},
            "tags": ["policy-violation"] if i % 11 == 0 else [],
        })
    return events


def rollup_totals(granularity: str, dimension: str) -> Counter:
    totals = Counter()
    for bucket in RollupBucket.objects.filter(granularity=granularity, dimension=dimension):
        totals[(bucket.bucket_start, bucket.value)] += bucket.count
    return totals


def table_totals(granularity: str, key) -> Counter:
    totals = Counter()
    for event in Event.objects.all():
        for value in key(event):
            bucket = Event.objects.filter(seq=event.seq).annotate(b=Trunc("occurred_at", granularity)).values_list("b", flat=True)[0]
            totals[(bucket, value)] += 1
    return totals


def as_fields(event):
    return {name: getattr(event, name) for name in (
        "occurred_at", "action", "category", "outcome", "severity", "actor_type", "actor_id", "actor_email",
        "project", "resource_id", "tags", "metadata")}


DIMENSIONS = {
    "all": lambda e: [""],
    "category": lambda e: [e.category],
    "action": lambda e: [e.action],
    "outcome": lambda e: [e.outcome],
    "severity": lambda e: [e.severity],
    "project": lambda e: [e.project],
    "actor": lambda e: [actor_value(as_fields(e))] if actor_value(as_fields(e)) else [],
    "resource": lambda e: [e.resource_id] if e.resource_id else [],
    "source": lambda e: [event_source(as_fields(e))],
    "signal": lambda e: signals_of(as_fields(e)),
}


def test_rollups_agree_with_counts_from_the_events_table_after_ingest():
    now = timezone.now()
    event_ingest(known_events(now)[:70])
    event_ingest(known_events(now)[70:])
    assert Event.objects.count() == 120
    for dimension, key in DIMENSIONS.items():
        for granularity in ("hour", "day"):
            assert rollup_totals(granularity, dimension) == table_totals(granularity, key), (granularity, dimension)
    assert rollup_totals("minute", "severity") == table_totals("minute", DIMENSIONS["severity"])
    # Every event raised the signals it should: the fixture has some of each kind but locks.
    signals = Counter(value for (_, value), n in rollup_totals("day", "signal").items() for _ in range(n))
    assert signals["high_severity"] == 48 and signals["denied"] == 40 and signals["permission_changes"] == 24


def test_a_repeated_event_is_not_counted_twice():
    now = timezone.now()
    event_ingest(known_events(now)[:10])
    event_ingest(known_events(now)[:10])
    assert sum(rollup_totals("day", "all").values()) == 10


def test_the_catch_up_counts_events_stored_before_the_rollups_and_ingest_then_takes_over():
    now = timezone.now()
    event_ingest(known_events(now)[:50])
    with connection.cursor() as cursor:
        # As if the events were stored before the rollups existed.
        cursor.execute("DELETE FROM audit_rollup_bucket")
        cursor.execute("UPDATE audit_rollup_state SET seq = 0")
    event_ingest(known_events(now)[50:60])          # ingest does not count while behind
    assert sum(rollup_totals("day", "all").values()) == 0
    assert rollups_catch_up(chunk=16) == 60
    event_ingest(known_events(now)[60:])
    assert rollups_catch_up() == 0
    for dimension, key in DIMENSIONS.items():
        assert rollup_totals("hour", dimension) == table_totals("hour", key), dimension
