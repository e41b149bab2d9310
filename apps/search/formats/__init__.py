"""Export formats: one module per format, behind the registry `FORMATS`.

Every format is pure: `write(chunks)` takes chunks of events (lists, as
`apps.search.reads.event_export` yields them) and yields chunks of output (text, or bytes for
Parquet), holding nothing but the chunk it is writing. Line formats (CEF, LEEF, syslog, JSON
Lines, OCSF) also expose `render(event) -> str`, one record without its line end, which is what
a stream destination sends per event.

Adding a format is one new module that defines `FORMAT` and one line below.

Each format escapes attacker-controlled event text by its own rules, documented in its module:
CSV neutralises formula cells, CEF escapes `\\|` in the header and `\\=` and newlines in the
extension, LEEF escapes its delimiter, syslog escapes `]`, `"` and `\\` in structured data, and
every line format writes a carriage return or line feed inside a field as the two characters
`\\r` or `\\n`, so that one event is always exactly one line.
"""
from __future__ import annotations

from apps.search.formats import cef, csv, json, jsonl, leef, ocsf, parquet, syslog
from apps.search.formats.base import ExportFormat

FORMATS: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in (csv.FORMAT, json.FORMAT, jsonl.FORMAT, cef.FORMAT, leef.FORMAT, syslog.FORMAT, parquet.FORMAT,
                ocsf.FORMAT)
}
# The custom (Jinja2) template format is not in FORMATS: it needs a template, so it is built per
# export by `apps.search.formats.template.template_format(source)`.
TEMPLATE = "template"
FORMAT_NAMES = (*FORMATS, TEMPLATE)

__all__ = ["FORMATS", "FORMAT_NAMES", "TEMPLATE", "ExportFormat"]
