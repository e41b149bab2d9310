"""Generic webhook: a signed JSON POST per batch (or text lines for CEF, LEEF and syslog).

Body for JSON formats: `{"destination": name, "first_seq", "last_seq", "events": [...]}`; each
event carries its event_id and seq so the receiver de-duplicates and sees gaps. Signed like the
alert webhooks (apps.outbound.signing): `X-Audit-Timestamp` and `X-Audit-Signature: sha256=<HMAC>`.
2xx acknowledges the batch; 408, 429 (Retry-After honoured) and 5xx, timeouts and refused
connections are retried; any other answer sends the batch to the dead letters.
"""
from __future__ import annotations

import json

from apps.outbound.http import http_post
from apps.outbound.signing import webhook_headers
from apps.streams.destinations.base import JSON_FORMATS, TEXT_FORMATS, Batch, ConfigField, DestinationKind, whole_batch


def send(destination, batch: Batch):
    first, last = batch.events[0].seq, batch.events[-1].seq
    if destination.format in JSON_FORMATS:
        head = json.dumps({"destination": destination.name, "first_seq": first, "last_seq": last})[:-1]
        body = (head + ', "events": [' + ",".join(batch.records) + "]}").encode()
        content_type = "application/json"
    else:
        body = "".join(record + "\n" for record in batch.records).encode()
        content_type = "text/plain; charset=utf-8"
    headers = {"Content-Type": content_type, "X-Audit-First-Seq": str(first), "X-Audit-Last-Seq": str(last),
               **webhook_headers(destination.secret, body)}
    result = http_post(destination.config["url"], body, headers=headers,
                       timeout=float(destination.config.get("timeout") or 10))
    return whole_batch(result.state, len(batch.events), result.status, result.excerpt, result.retry_after)


KIND = DestinationKind(
    name="webhook", label="Webhook", description="A signed HTTPS POST per batch, to any receiver.",
    fields=(ConfigField("url", "URL", type="url", help="Where batches are POSTed."),
            ConfigField("timeout", "Timeout (seconds)", required=False, type="int", default=10)),
    send=send, formats=JSON_FORMATS + TEXT_FORMATS, secret_label="Signing secret",
    max_events=1000, max_bytes=5_000_000,
)
