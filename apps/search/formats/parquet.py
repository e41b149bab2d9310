"""Apache Parquet, written by pyarrow: one row group per chunk of events, streamed as bytes.

Columns are DESIGN.md's fields with their types: seq int64, times timestamp[us, UTC],
status_code int32, tags list<string>, changes and metadata as JSON text (their shapes differ
per event), hashes as `sha256:<hex>` text like the other formats. Values are stored as sent:
Parquet is data, not a document anything runs, so nothing needs escaping.

The writer writes into a sink that keeps only what was written since the last chunk was
yielded, so memory stays at one row group whatever the number of events.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from apps.search.formats.base import FIELDS, Chunks, ExportFormat, text_fields

_TIME = pa.timestamp("us", tz="UTC")
_TYPES = {"seq": pa.int64(), "occurred_at": _TIME, "received_at": _TIME, "status_code": pa.int32(),
          "tags": pa.list_(pa.string())}
SCHEMA = pa.schema([pa.field(name, _TYPES.get(name, pa.string()), nullable=name not in ("seq", "event_id"))
                    for name in FIELDS])


class _Drain:
    """A write-only file that hands over what was written since the last `take()`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data) -> int:
        data = bytes(data)
        self._parts.append(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing to flush: written bytes are handed to the response as they come (pyarrow calls this)."""

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _columns(events) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name in FIELDS}
    for event in events:
        text = text_fields(event)
        for name in FIELDS:
            if name in ("seq",):
                columns[name].append(event.seq)
            elif name in ("occurred_at", "received_at"):
                columns[name].append(getattr(event, name))
            elif name == "status_code":
                columns[name].append(event.status_code)
            elif name == "tags":
                columns[name].append(list(event.tags or []))
            else:
                columns[name].append(text[name] or None)
    return columns


def parquet_chunks(chunks: Chunks) -> Iterator[bytes]:
    sink = _Drain()
    writer = pq.ParquetWriter(sink, SCHEMA, compression="zstd")
    try:
        for events in chunks:
            writer.write_table(pa.table(_columns(events), schema=SCHEMA))
            if data := sink.take():
                yield data
    finally:
        writer.close()
    yield sink.take()


FORMAT = ExportFormat("parquet", "Parquet", "application/vnd.apache.parquet", "parquet", parquet_chunks, binary=True)
