"""Datadog logs intake (v2): gzip JSON arrays of at most 1,000 entries and 5 MB uncompressed.

Each entry: `message` (the rendered event), `ddsource`, `service`, `hostname`, `ddtags`, and
the event's `event_id` and `seq` as attributes. 202 acknowledges; 408, 429 and 5xx are retried;
other 4xx (a bad API key, 403) dead-letter the batch. Datadog drops entries over 1 MB and
timestamps older than 18 h: the batch limits keep under the first; replays of old events may
meet the second (the intake still answers 202).
"""
from __future__ import annotations

import gzip
import json

from apps.outbound.http import http_post
from apps.streams.destinations.base import JSON_FORMATS, TEXT_FORMATS, Batch, ConfigField, DestinationKind, whole_batch


def send(destination, batch: Batch):
    config = destination.config
    entries = [{"ddsource": config.get("source") or "audit-console", "service": config.get("service") or "audit-log",
                "hostname": config.get("hostname") or "audit-console", "ddtags": config.get("tags") or "",
                "message": record, "event_id": event.event_id, "seq": event.seq}
               for event, record in zip(batch.events, batch.records)]
    body = gzip.compress(json.dumps(entries).encode())
    site = (config.get("url") or "https://http-intake.logs.datadoghq.com").rstrip("/")
    result = http_post(site + "/api/v2/logs", body, headers={"DD-API-KEY": destination.secret,
                                                             "Content-Encoding": "gzip"})
    return whole_batch(result.state, len(batch.events), result.status, result.excerpt, result.retry_after)


KIND = DestinationKind(
    name="datadog", label="Datadog logs",
    description="Logs intake v2, gzip; 1,000 entries and 5 MB per request.",
    fields=(ConfigField("url", "Intake URL", type="url", default="https://http-intake.logs.datadoghq.com",
                        help="Your site's logs intake, e.g. https://http-intake.logs.datadoghq.eu"),
            ConfigField("service", "Service", required=False, default="audit-log"),
            ConfigField("tags", "Tags", required=False, help="env:prod,team:security")),
    send=send, formats=JSON_FORMATS + TEXT_FORMATS, secret_label="API key", secret_required=True,
    max_events=1000, max_bytes=5_000_000,
)
