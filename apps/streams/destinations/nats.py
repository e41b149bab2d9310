"""NATS JetStream: one message per event, acknowledged by the stream (PubAck).

Each message goes to `<subject prefix>.<category>` with the `Nats-Msg-Id` header set to the
event_id, so JetStream's duplicate window drops a retried message instead of storing it twice;
`Audit-Seq` carries the seq. An event counts as delivered only when its PubAck arrives; the
first one that fails (timeout, no responders, stream not found) stops the batch there, and the
rest is sent again after a backoff.
"""
from __future__ import annotations

import asyncio
import re

from apps.streams.destinations.base import DELIVERED, JSON_FORMATS, RETRY, TEXT_FORMATS, Batch, ConfigField, DestinationKind, Outcome

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


async def _publish(destination, batch: Batch) -> Outcome:
    import nats
    from nats.errors import Error as NatsError

    config = destination.config
    options = {"servers": [config.get("url") or "nats://127.0.0.1:4222"], "connect_timeout": 5,
               "allow_reconnect": False, "max_reconnect_attempts": 0}
    if destination.secret:
        options["token"] = destination.secret
    acked = 0
    try:
        client = await nats.connect(**options)
    except (NatsError, OSError, asyncio.TimeoutError) as error:
        return Outcome(RETRY, detail=f"connect: {type(error).__name__}: {error}"[:500])
    try:
        js = client.jetstream(timeout=float(config.get("timeout") or 5))
        prefix = config.get("subject") or "audit.events"
        for event, record in zip(batch.events, batch.records):
            subject = f"{prefix}.{_TOKEN.sub('_', event.category or 'unknown')}"
            try:
                await js.publish(subject, record.encode(), headers={"Nats-Msg-Id": event.event_id,
                                                                    "Audit-Seq": str(event.seq)})
            except (NatsError, OSError, asyncio.TimeoutError) as error:
                return Outcome(RETRY, acked=acked, detail=f"publish {event.event_id}: {type(error).__name__}: {error}"[:500])
            acked += 1
    finally:
        try:
            await client.close()
        except Exception:  # closing a broken connection must not hide the outcome
            pass
    return Outcome(DELIVERED, acked=acked)


def send(destination, batch: Batch) -> Outcome:
    return asyncio.run(_publish(destination, batch))


KIND = DestinationKind(
    name="nats", label="NATS JetStream",
    description="One message per event, Nats-Msg-Id = event_id (JetStream de-duplicates retries).",
    fields=(ConfigField("url", "Server URL", default="nats://127.0.0.1:4222"),
            ConfigField("subject", "Subject prefix", default="audit.events",
                        help="Messages go to <prefix>.<category>; the stream must cover <prefix>.>")),
    send=send, formats=JSON_FORMATS + TEXT_FORMATS, secret_label="Token", max_events=500, max_bytes=5_000_000,
)
