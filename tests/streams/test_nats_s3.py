"""NATS JetStream at 127.0.0.1:4222 (the machine's broker) and S3 through moto's server mode.

moto is an EMULATOR of S3 (its server mode speaks the S3 HTTP API on a local port); it stands in
for a real S3-compatible store, which cannot run on this machine.
"""
from __future__ import annotations

import asyncio
import gzip
import io
import json
import socket
import uuid

import pyarrow.parquet as pq
import pytest

from tests.streams.support import deliver_until_idle, make_destination, stream_events

pytestmark = pytest.mark.django_db
NATS_URL = "nats://127.0.0.1:4222"


def _nats_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def jetstream():
    """A JetStream stream of its own (removed afterwards) over `test<uuid>.>`."""
    if not _nats_up():
        pytest.skip("no NATS server at 127.0.0.1:4222 (the test machine runs one with JetStream)")
    import nats

    prefix = f"test{uuid.uuid4().hex[:10]}"
    name = prefix.upper()

    async def run(coro):
        client = await nats.connect(NATS_URL)
        try:
            return await coro(client.jetstream())
        finally:
            await client.close()

    asyncio.run(run(lambda js: js.add_stream(name=name, subjects=[f"{prefix}.>"])))
    yield {"prefix": prefix, "name": name, "run": lambda coro: asyncio.run(run(coro))}
    asyncio.run(run(lambda js: js.delete_stream(name)))


def test_nats_jetstream_stores_each_event_once_even_when_the_stream_is_replayed(people, add_events, jetstream):
    add_events(stream_events(5))
    destination = make_destination(people["admin"], kind="nats", config={"url": NATS_URL, "subject": jetstream["prefix"]},
                                   batch=3)
    start = destination.cursor_seq

    deliver_until_idle(destination)
    destination.cursor_seq = start  # a replay from the start: JetStream drops the duplicates by Nats-Msg-Id
    destination.save()
    deliver_until_idle(destination)

    async def read(js):
        info = await js.stream_info(jetstream["name"])
        first = await js.get_msg(jetstream["name"], seq=1)
        return info.state.messages, first

    count, first = jetstream["run"](read)
    assert count == 5
    assert first.subject == f"{jetstream['prefix']}.storage"
    assert first.headers["Nats-Msg-Id"] == "s-0000"
    assert json.loads(first.data)["event_id"] == "s-0000"


def test_nats_without_a_stream_for_the_subject_is_retried_not_lost(people, add_events):
    if not _nats_up():
        pytest.skip("no NATS server at 127.0.0.1:4222")
    add_events(stream_events(2))
    destination = make_destination(people["admin"], kind="nats",
                                   config={"url": NATS_URL, "subject": f"nostream{uuid.uuid4().hex[:8]}", "timeout": 1})
    start = destination.cursor_seq

    from apps.streams.delivery import destination_deliver

    assert destination_deliver(destination.pk) == "retry"
    destination.refresh_from_db()
    assert destination.cursor_seq == start


@pytest.fixture
def s3_server():
    """moto's server mode on a free local port: an S3 emulator, not S3."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    import boto3

    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDTEST",
                          aws_secret_access_key="secret")
    bucket = f"audit-archive-{uuid.uuid4().hex[:8]}"  # moto keeps one backend per process: a bucket per test
    client.create_bucket(Bucket=bucket)
    yield {"url": url, "client": client, "bucket": bucket}
    server.stop()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_s3_objects_hold_each_batch_named_by_its_seq_range(people, add_events, s3_server, fmt):
    add_events(stream_events(7))
    destination = make_destination(people["admin"], kind="s3", fmt=fmt, secret="AKIDTEST:secret", batch=4,
                                   config={"bucket": s3_server["bucket"], "prefix": "logs", "endpoint_url": s3_server["url"]})

    deliver_until_idle(destination)

    client = s3_server["client"]
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=s3_server["bucket"])["Contents"])
    assert len(keys) == 2 and all(k.startswith("logs/2026/03/01/") for k in keys)
    ids = []
    for key in keys:
        body = client.get_object(Bucket=s3_server["bucket"], Key=key)["Body"].read()
        if fmt == "parquet":
            assert key.endswith(".parquet")
            ids += pq.read_table(io.BytesIO(body)).column("event_id").to_pylist()
        else:
            assert key.endswith(".jsonl.gz")
            ids += [json.loads(line)["event_id"] for line in gzip.decompress(body).decode().splitlines()]
    assert ids == [f"s-{i:04d}" for i in range(7)]


def test_s3_into_a_missing_bucket_dead_letters_the_batch(people, add_events, s3_server):
    add_events(stream_events(2))
    destination = make_destination(people["admin"], kind="s3", secret="AKIDTEST:secret",
                                   config={"bucket": "no-such-bucket", "endpoint_url": s3_server["url"]})

    deliver_until_idle(destination)

    assert destination.dead_letters.count() == 2
    assert "NoSuchBucket" in destination.dead_letters.first().response
