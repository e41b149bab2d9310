"""What the status page shows for a destination: lag, rate, last success and error, dead letters."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from apps.streams.models import Destination
from apps.streams.reads import LAG_CAP, stream_lag

RATE_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class DestinationStatus:
    destination: Destination
    lag_events: int
    lag_capped: bool
    lag_seconds: float | None
    rate_per_minute: float
    dead_letters: int


def destination_status(destination: Destination) -> DestinationStatus:
    lag, seconds = stream_lag(destination)
    since = timezone.now() - RATE_WINDOW
    acked = destination.batches.filter(at__gte=since).aggregate(n=Sum("acknowledged"))["n"] or 0
    return DestinationStatus(
        destination=destination, lag_events=lag, lag_capped=lag >= LAG_CAP, lag_seconds=seconds,
        rate_per_minute=acked / (RATE_WINDOW.total_seconds() / 60),
        dead_letters=destination.dead_letters.filter(replayed_at__isnull=True).count(),
    )


def destination_status_list() -> list[DestinationStatus]:
    return [destination_status(d) for d in Destination.objects.select_related("owner").order_by("name")]
