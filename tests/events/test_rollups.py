"""The dashboard's rollups (counted in SQL at ingest) agree with counts taken from the events table."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.functions import Trunc, Upper
from django.utils import timezone

from apps.events.chain import chain_append
from apps.events.security_signals import signals_of
from apps.events.ingest import event_ingest
from apps.events.models import ActorRollupBucket, Event, RollupBucket
from apps.events.rollups import (ACTOR_DAY_ONLY, ACTOR_DIMENSIONS, actor_rollup_seq, actor_rollups_catch_up,
                                 rollup_state, rollups_catch_up)
from apps.events.schema import normalize_event

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
    # Sources other than the actor: CloudEvents envelopes (a source, and one that is not a
    # string), and actors whose email is not lower case or not ASCII.
    events[3]["metadata"] = {"cloudevents": {"source": "//billing.example/exporter", "specversion": "1.0"}}
    events[9]["metadata"] = {"cloudevents": {"source": 42}}
    events[12]["actor"] = {"type": "user", "id": "u-12", "email": "Zoë.ÅNGSTRÖM@Example.com"}
    events[15]["actor"] = {"type": "system", "id": "cron"}
    return events


def actor_value(event) -> str:
    """The dashboard's actor: the email, else the id, lower case."""
    return (event.actor_email or event.actor_id).lower()


def event_source(event) -> str:
    """Where an event came from: its CloudEvents source (a string), else the service, API key or
    system that sent it, else the kind of actor."""
    envelope = event.metadata.get("cloudevents") if isinstance(event.metadata, dict) else None
    if isinstance(envelope, dict) and isinstance(envelope.get("source"), str) and envelope["source"]:
        return envelope["source"][:200]
    if event.actor_type in ("service", "api_key", "system") and event.actor_id:
        return f"{event.actor_type}:{event.actor_id}"[:200]
    return event.actor_type or "unknown"


def rollup_totals(granularity: str, dimension: str) -> Counter:
    totals = Counter()
    for bucket in RollupBucket.objects.filter(granularity=granularity, dimension=dimension):
        totals[(bucket.bucket_start, bucket.value)] += bucket.count
    return totals


def table_totals(granularity: str, key, since=None) -> Counter:
    totals = Counter()
    for event in Event.objects.all() if since is None else Event.objects.filter(occurred_at__gte=since):
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
    "actor": lambda e: [actor_value(e)] if actor_value(e) else [],
    "resource": lambda e: [e.resource_id] if e.resource_id else [],
    "source": lambda e: [event_source(e)],
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
    # Minute buckets only for the events of the last two hours (events 0 to 3, 111 minutes at most).
    recent = now - timedelta(hours=2)
    assert rollup_totals("minute", "severity") == table_totals("minute", DIMENSIONS["severity"], since=recent)
    assert sum(rollup_totals("minute", "all").values()) == 4
    # Every event raised the signals it should: the fixture has some of each kind but locks.
    signals = Counter(value for (_, value), n in rollup_totals("day", "signal").items() for _ in range(n))
    assert signals["high_severity"] == 48 and signals["denied"] == 40 and signals["permission_changes"] == 24
    sources = set(value for (_, value) in rollup_totals("day", "source"))
    assert {"//billing.example/exporter", "system:cron", "service:actor1", "user"} <= sources
    assert "zoë.ångström@example.com" in {value for (_, value) in rollup_totals("day", "actor")}


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


def test_a_load_that_leaves_the_rollups_behind_is_counted_once_by_the_catch_up():
    now = timezone.now()
    event_ingest(known_events(now)[:30])
    # A bulk load (seed_demo) appends without counting; the rollups stay at seq 30 meanwhile,
    # and appends after it do not count either until the catch-up has counted the load.
    chain_append([normalize_event(raw) for raw in known_events(now)[30:100]], count_rollups=False)
    event_ingest(known_events(now)[100:])
    assert rollup_state() == (30, 120)
    assert sum(rollup_totals("day", "all").values()) == 30
    assert rollups_catch_up(chunk=25) == 90
    assert rollup_state() == (120, 120)
    for dimension, key in DIMENSIONS.items():
        for granularity in ("hour", "day"):
            assert rollup_totals(granularity, dimension) == table_totals(granularity, key), (granularity, dimension)
    assert rollup_totals("minute", "all") == table_totals("minute", DIMENSIONS["all"], since=now - timedelta(hours=2))


def actor_rollup_totals(granularity: str) -> Counter:
    totals = Counter()
    for row in ActorRollupBucket.objects.filter(granularity=granularity):
        totals[(row.actor_id, row.actor_email, row.bucket_start, row.dimension, row.value)] += row.count
    return totals


def actor_table_totals(granularity: str, dimensions) -> Counter:
    """Per (UPPER(actor_id), UPPER(actor_email)) as PostgreSQL upper-cases them, bucket and value."""
    totals = Counter()
    events = Event.objects.exclude(actor_id="", actor_email="").annotate(
        upper_id=Upper("actor_id"), upper_email=Upper("actor_email"), b=Trunc("occurred_at", granularity))
    for event in events:
        for dimension in dimensions:
            for value in DIMENSIONS[dimension](event):
                totals[(event.upper_id, event.upper_email, event.b, dimension, value)] += 1
    return totals


def test_per_actor_rollups_agree_with_counts_from_the_events_table_keyed_as_the_visibility_rule_matches():
    now = timezone.now()
    events = known_events(now)
    events[20]["actor"] = {"type": "user", "id": "ACTOR6", "email": "actor6@EXAMPLE.com"}   # same person, other case
    events[21]["actor"] = {"type": "user", "id": "", "email": "Nobody@Example.com"}
    event_ingest(events[:70])
    assert rollups_catch_up(chunk=16) == 0          # ingest counted the global rollups itself
    assert actor_rollup_seq() == 70                 # the catch-up counted the per-actor ones
    event_ingest(events[70:])
    assert actor_rollup_seq() == 70                 # ingest does not count them
    assert actor_rollups_catch_up(chunk=30) == 50
    small = [name for name in ACTOR_DIMENSIONS if name not in ACTOR_DAY_ONLY] + ["signal"]
    assert actor_rollup_totals("hour") == actor_table_totals("hour", small)
    assert actor_rollup_totals("day") == actor_table_totals("day", [*small, *ACTOR_DAY_ONLY])
    keys = {(actor_id, email) for actor_id, email, *_ in actor_rollup_totals("day")}
    assert ("ACTOR6", "ACTOR6@EXAMPLE.COM") in keys and ("", "NOBODY@EXAMPLE.COM") in keys
    assert ("", "") not in keys
