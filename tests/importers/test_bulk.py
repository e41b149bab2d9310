"""A bulk import (manage.py import_events) has the search index's pending list merged beside its
appends, on a connection of its own: the same events, found the same way, the list merged at the end."""
from __future__ import annotations

import io
import json

from django.db import connection

from apps.events.bulk_load import _may_merge
from apps.events.chain_verification import chain_verify
from apps.events.models import Event
from apps.importers.run import import_run
from tests.importers.samples_paths import STRATUS


def _records(count: int) -> bytes:
    shapes = [record for path in sorted(STRATUS.glob("*.json")) for record in json.loads(path.read_text())]
    lines = []
    for n in range(count):
        record = dict(shapes[n % len(shapes)])
        record["eventID"] = f"bulk-{n}"
        lines.append(json.dumps(record))
    return "\n".join(lines).encode()


def _pending_pages_merged_now() -> int:
    with connection.cursor() as cursor:
        # As the console's role: through the owner's function (events 0016), as the import merges.
        cursor.execute("SELECT audit_search_merge_pending()")
        return cursor.fetchone()[0]


def test_a_bulk_import_stores_every_record_and_leaves_the_search_index_merged(transactional_db, find):
    body = _records(700)
    assert _may_merge()  # the console's role may merge the list, so the helper runs
    summary = import_run([("bulk.jsonl", io.BytesIO(body))], format="cloudtrail", batch_size=50, bulk=True)
    assert (summary.imported, summary.problems) == (700, [])
    assert _pending_pages_merged_now() == 0
    assert Event.objects.count() == 700
    # Found through the trigram index (a substring of the metadata's text), as after any import.
    role = "stratus-red-team-ec2-get-password-data-role"
    assert len(find(role)) == sum(role in line for line in body.decode().splitlines()) > 0
    assert chain_verify().valid
