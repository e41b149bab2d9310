"""Stream destination kinds: one module each, behind the registry `KINDS`.

A kind declares its settings (shown in the form), the formats it takes, its batching limits
and `send(destination, batch) -> Outcome`; apps.streams.delivery does the rest (cursor,
retries with backoff, dead letters). Adding a kind is one module and one line here.
"""
from __future__ import annotations

from apps.streams.destinations import datadog, elasticsearch, nats, s3, splunk_hec, syslog_tls, webhook
from apps.streams.destinations.base import DestinationKind

KINDS: dict[str, DestinationKind] = {
    kind.name: kind
    for kind in (webhook.KIND, splunk_hec.KIND, elasticsearch.KIND, datadog.KIND, syslog_tls.KIND, s3.KIND, nats.KIND)
}
