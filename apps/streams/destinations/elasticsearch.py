"""Elasticsearch / OpenSearch `_bulk`: one `create` per event with `_id` = event_id.

`create` makes a retried event a 409 (already there), never a duplicate, so a 409 counts as
acknowledged. The answer is 200 with `errors: true` and a status per item: items answered 429
or 5xx are sent again (from the first of them, in seq order: the ones before are acknowledged);
other 4xx items (a mapping error) go to the dead letters with their error. A whole-request 429
or 5xx is retried; another 4xx (bad credentials, no such index template) dead-letters the batch.
"""
from __future__ import annotations

import json

import httpx

from apps.outbound.http import USER_AGENT, result_from_status, retry_after_parse
from apps.streams.destinations.base import DELIVERED, RETRY, Batch, ConfigField, DestinationKind, Outcome, whole_batch


def _auth_headers(destination) -> dict[str, str]:
    if not destination.secret:
        return {}
    if destination.config.get("auth") == "basic":
        import base64

        return {"Authorization": "Basic " + base64.b64encode(destination.secret.encode()).decode()}
    return {"Authorization": "ApiKey " + destination.secret}


def send(destination, batch: Batch) -> Outcome:
    index = destination.config.get("index") or "audit-events"
    lines = []
    for event, record in zip(batch.events, batch.records):
        lines.append(json.dumps({"create": {"_index": index, "_id": event.event_id}}))
        lines.append(record)
    body = ("\n".join(lines) + "\n").encode()
    url = destination.config["url"].rstrip("/") + "/_bulk"
    try:
        with httpx.Client(timeout=float(destination.config.get("timeout") or 30)) as client:
            response = client.post(url, content=body, headers={
                "Content-Type": "application/x-ndjson", "User-Agent": USER_AGENT, **_auth_headers(destination)})
    except httpx.HTTPError as error:
        return Outcome(RETRY, detail=f"{type(error).__name__}: {error}"[:500])
    if response.status_code != 200:
        result = result_from_status(response.status_code, response.text, response.headers.get("Retry-After"))
        return whole_batch(result.state, len(batch.events), result.status, result.excerpt, result.retry_after)
    try:
        answer = response.json()
        items = [next(iter(item.values())) for item in answer["items"]]
    except (ValueError, KeyError, StopIteration, AttributeError):
        return Outcome(RETRY, status=200, detail="the _bulk answer is not JSON with items: " + response.text[:300])
    if not answer.get("errors"):
        return Outcome(DELIVERED, acked=len(batch.events), status=200)
    dead = []
    for index_, item in enumerate(items):
        status = int(item.get("status") or 0)
        if status in (200, 201, 409):
            continue
        if status == 429 or status >= 500:
            return Outcome(RETRY, acked=index_, dead=dead, status=status,
                           detail=f"item {batch.events[index_].event_id}: {json.dumps(item.get('error'))[:300]}",
                           retry_after=retry_after_parse(response.headers.get("Retry-After")))
        dead.append((index_, status, json.dumps(item.get("error"))[:1000]))
    return Outcome(DELIVERED, acked=len(batch.events), dead=dead, status=200,
                   detail=f"{len(dead)} item(s) refused" if dead else "")


KIND = DestinationKind(
    name="elasticsearch", label="Elasticsearch / OpenSearch",
    description="The _bulk API, create with _id = event_id: retries never duplicate.",
    fields=(ConfigField("url", "Cluster URL", type="url", help="e.g. https://es.example.com:9200"),
            ConfigField("index", "Index or data stream", default="audit-events"),
            ConfigField("auth", "Credential type", required=False, type="choice", default="apikey",
                        choices=(("apikey", "API key"), ("basic", "user:password (Basic)")))),
    send=send, secret_label="API key, or user:password", max_events=1000, max_bytes=10_000_000,
)
