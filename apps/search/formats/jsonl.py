"""JSON Lines: one API event object per line."""
from __future__ import annotations

from apps.search.formats.base import ExportFormat, lines
from apps.search.formats.json import event_json

jsonl_chunks = lines(event_json)

FORMAT = ExportFormat("jsonl", "JSON Lines", "application/x-ndjson", "jsonl", jsonl_chunks, render=event_json)
