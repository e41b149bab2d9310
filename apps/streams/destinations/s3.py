"""S3-compatible object storage: one object per batch, gzip JSON Lines or Parquet.

Objects are named `<prefix>/<yyyy>/<mm>/<dd>/<first seq>-<last seq>.<jsonl.gz|parquet>` (the
seq range makes a retried upload overwrite its own object, never add a second one) and sent
with their Content-MD5 so the store refuses a damaged upload. A batch is one interval's events:
after each upload the destination waits `interval` seconds, so objects are few and large.
S3 error codes: SlowDown, 5xx and network trouble are retried; AccessDenied, NoSuchBucket and
other 4xx dead-letter the batch.
"""
from __future__ import annotations

import base64
import gzip
import hashlib

from apps.search.formats import FORMATS
from apps.streams.destinations.base import DELIVERED, RETRY, Batch, ConfigField, DestinationKind, Outcome, whole_batch

_RETRYABLE = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}


def _client(destination):
    import boto3
    from botocore.config import Config

    access_key, _, secret_key = destination.secret.partition(":")
    return boto3.client("s3", endpoint_url=destination.config.get("endpoint_url") or None,
                        region_name=destination.config.get("region") or "us-east-1",
                        aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
                        config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30))


def object_body(destination, batch: Batch) -> tuple[str, bytes, str]:
    if destination.format == "parquet":
        return "parquet", b"".join(FORMATS["parquet"].write([batch.events])), "application/vnd.apache.parquet"
    return "jsonl.gz", gzip.compress("".join(r + "\n" for r in batch.records).encode()), "application/x-ndjson"


def send(destination, batch: Batch) -> Outcome:
    from botocore.exceptions import BotoCoreError, ClientError

    extension, body, content_type = object_body(destination, batch)
    first = batch.events[0]
    prefix = (destination.config.get("prefix") or "audit-log").strip("/")
    key = f"{prefix}/{first.occurred_at:%Y/%m/%d}/{first.seq:012d}-{batch.events[-1].seq:012d}.{extension}"
    try:
        _client(destination).put_object(
            Bucket=destination.config["bucket"], Key=key, Body=body, ContentType=content_type,
            ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode())  # noqa: S324 (S3's own checksum)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        state = RETRY if code in _RETRYABLE or (status or 500) >= 500 else "failed"
        return whole_batch(state, len(batch.events), status, f"{code}: {error}"[:500])
    except BotoCoreError as error:
        return Outcome(RETRY, detail=f"{type(error).__name__}: {error}"[:500])
    return Outcome(DELIVERED, acked=len(batch.events), status=200, detail=key)


KIND = DestinationKind(
    name="s3", label="S3-compatible storage",
    description="Objects of gzip JSON Lines or Parquet, one per interval, named by their seq range.",
    fields=(ConfigField("bucket", "Bucket"), ConfigField("prefix", "Key prefix", required=False, default="audit-log"),
            ConfigField("endpoint_url", "Endpoint URL", required=False, type="url",
                        help="For S3-compatible stores (MinIO, Ceph...); empty for AWS."),
            ConfigField("region", "Region", required=False, default="us-east-1"),
            ConfigField("interval", "Seconds between objects", required=False, type="int", default=300)),
    send=send, formats=("jsonl", "ocsf", "parquet"), secret_label="access key id:secret access key",
    secret_required=True, max_events=100_000, max_bytes=100_000_000,
)
