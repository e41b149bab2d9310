"""JSON: one array of the API's event objects (the verification block included)."""
from __future__ import annotations

import json as _json
from collections.abc import Iterator

from django.core.serializers.json import DjangoJSONEncoder

from apps.search.formats.base import Chunks, ExportFormat
from apps.events.models import Event
from apps.search.serialize import event_as_json


def event_json(event: Event) -> str:
    """One event as the API shows it, on one line (JSON escapes control characters)."""
    return _json.dumps(event_as_json(event), ensure_ascii=False, cls=DjangoJSONEncoder)


def json_chunks(chunks: Chunks) -> Iterator[str]:
    opened = False
    for events in chunks:
        lines = ",\n".join(event_json(event) for event in events)
        yield ("[\n" if not opened else ",\n") + lines
        opened = True
    yield "\n]\n" if opened else "[]\n"


FORMAT = ExportFormat("json", "JSON", "application/json", "json", json_chunks)
