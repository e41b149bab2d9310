"""`verify_chain --with-archives`: each archived event's hash recomputed from its segment.

Registered into the log's verification (apps.events.chain_verification.archive_check_register)
when the app loads. For every segment with a file (warm, or cold through cold storage) whose
seqs meet the range: the file against its signed manifest (size, SHA-256, signature, seq
range, count, first prev_hash, last hash), every row's hash recomputed from its fields, and
every row's (prev_hash, hash) against its chain stub. A deleted segment's stubs stand alone.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from django.db import connection

from apps.retention.models import Segment
from apps.retention.segments import SegmentInvalid, segment_file_check, warm_path
from apps.retention.storage import cold_storage


def _file_of(segment: Segment, directory: str) -> Path:
    path = warm_path(segment.file_name)
    if path.exists() or not segment.cold_key:
        return path
    local = Path(directory) / "segment.parquet"
    try:
        cold_storage().get(segment.cold_key, local)
    except Exception:  # a missing cold object is reported as a missing file
        return local
    return local


def archives_check(from_seq: int, to_seq: int) -> tuple[int, tuple[int, str] | None]:
    checked = 0
    segments = Segment.objects.filter(state__in=[Segment.State.WARM, Segment.State.COLD],
                                      last_seq__gte=from_seq, first_seq__lte=to_seq).order_by("first_seq")
    for segment in segments:
        with tempfile.TemporaryDirectory() as directory:
            try:
                table = segment_file_check(segment, _file_of(segment, directory))
            except SegmentInvalid as error:
                return checked, (error.seq, error.reason)
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, prev_hash, hash FROM audit_chain_stub WHERE segment_id = %s ORDER BY seq",
                           [segment.pk])
            stubs = {seq: (bytes(prev), bytes(digest)) for seq, prev, digest in cursor.fetchall()}
        for seq, prev, digest in zip(table.column("seq").to_pylist(), table.column("prev_hash").to_pylist(),
                                     table.column("hash").to_pylist()):
            if stubs.get(seq) != (prev, digest):
                return checked, (seq, "the chain stub does not match its archived event")
            checked += 1
    return checked, None
