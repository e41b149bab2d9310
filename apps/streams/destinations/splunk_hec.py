"""Splunk HTTP Event Collector, with indexer acknowledgement when enabled.

Events go to `/services/collector/event` as concatenated `{"time", "event", "sourcetype",
"source", "index"}` objects, with `Authorization: Splunk <token>`. A 200 only means "valid",
not indexed: with acknowledgement on, every request carries `X-Splunk-Request-Channel` (a
channel per destination), the answer holds an `ackId`, and the batch counts as delivered only
once `/services/collector/ack` says that id is true (polled for up to `ack_timeout` seconds;
not confirmed by then, the batch is sent again). HEC's own codes: 9 (server busy, 503) and
other 5xx are retried; 4xx (invalid token 4, invalid data 6...) dead-letter the batch.
"""
from __future__ import annotations

import json
import time
import uuid

import httpx

from apps.outbound.http import USER_AGENT, result_from_status
from apps.streams.destinations.base import DELIVERED, RETRY, Batch, ConfigField, DestinationKind, Outcome, whole_batch


def _channel(destination) -> str:
    # One stable channel per destination (HEC tracks acks per channel).
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"audit-console-stream-{destination.pk}"))


def send(destination, batch: Batch) -> Outcome:
    config = destination.config
    base = config["url"].rstrip("/")
    envelope = {key: config[key] for key in ("index", "sourcetype", "source") if config.get(key)}
    envelope.setdefault("sourcetype", "audit:console")
    head = json.dumps(envelope)[1:-1]
    body = "".join(f'{{"time":{event.occurred_at.timestamp():.6f},{head},"event":{record}}}'
                   for event, record in zip(batch.events, batch.records)).encode()
    headers = {"Authorization": f"Splunk {destination.secret}", "Content-Type": "application/json",
               "User-Agent": USER_AGENT}
    use_ack = bool(config.get("use_ack"))
    if use_ack:
        headers["X-Splunk-Request-Channel"] = _channel(destination)
    count = len(batch.events)
    try:
        with httpx.Client(timeout=float(config.get("timeout") or 30)) as client:
            response = client.post(base + "/services/collector/event", content=body, headers=headers)
            if response.status_code != 200:
                result = result_from_status(response.status_code, response.text, response.headers.get("Retry-After"))
                return whole_batch(result.state, count, result.status, result.excerpt, result.retry_after)
            if not use_ack:
                return Outcome(DELIVERED, acked=count, status=200)
            try:
                ack_id = response.json()["ackId"]
            except (ValueError, KeyError):
                return Outcome(RETRY, status=200, detail="acknowledgement is on but the answer has no ackId")
            deadline = time.monotonic() + float(config.get("ack_timeout") or 30)
            while time.monotonic() < deadline:
                answer = client.post(base + "/services/collector/ack", headers=headers,
                                     content=json.dumps({"acks": [ack_id]}).encode())
                if answer.status_code == 200 and answer.json().get("acks", {}).get(str(ack_id)) is True:
                    return Outcome(DELIVERED, acked=count, status=200, detail=f"ackId {ack_id} confirmed")
                time.sleep(0.2)
            return Outcome(RETRY, status=200, detail=f"ackId {ack_id} not confirmed in time; sending again")
    except httpx.HTTPError as error:
        return Outcome(RETRY, detail=f"{type(error).__name__}: {error}"[:500])


KIND = DestinationKind(
    name="splunk_hec", label="Splunk HEC",
    description="HTTP Event Collector; with indexer acknowledgement, a batch counts only once indexed.",
    fields=(ConfigField("url", "HEC base URL", type="url", help="e.g. https://splunk.example.com:8088"),
            ConfigField("index", "Index", required=False),
            ConfigField("sourcetype", "Sourcetype", required=False, default="audit:console"),
            ConfigField("use_ack", "Use indexer acknowledgement", required=False, type="bool", default=True),
            ConfigField("ack_timeout", "Acknowledgement timeout (seconds)", required=False, type="int", default=30)),
    send=send, secret_label="HEC token", secret_required=True, max_events=500, max_bytes=1_000_000,
)
