"""Custom formats: a Jinja2 template rendered once per event, in Jinja2's sandbox.

Like NetBox's export templates, a user (or an administrator, for everyone) stores a template;
unlike them, the template is rendered per event, not over the whole result, so an export of a
million events still streams in constant memory. The output is each event's rendering followed
by a line feed, between an optional header and footer.

The template sees `event`: the API's event object (`event.actor.id`, `event.verification.seq`,
...) plus the flat fields of DESIGN.md (`event.seq`, `event.actor_id`, `event.hash`...). It runs
in `ImmutableSandboxedEnvironment`: no attribute starting with `_`, no calls to unsafe
methods, no changes to the objects it is given; a template that tries is refused with
SecurityError. Its text is data, so nothing is escaped for it by default; it escapes with the
filters each format needs: `csv` (a quoted cell with formulas neutralised), `cef_header`,
`cef_value`, `leef_value`, `syslog_value`, `json` (a JSON value), `html`, and `oneline`
(CR and LF written as `\\r` and `\\n`).
"""
from __future__ import annotations

import csv as _csv
import io
import json as _json
from collections.abc import Iterator

from django.core.serializers.json import DjangoJSONEncoder
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from apps.search.formats import cef, leef, syslog
from apps.search.formats.base import Chunks, ExportFormat, text_fields
from apps.search.formats.csv import neutralised
from apps.events.models import Event
from apps.search.serialize import event_as_json

MAX_SOURCE = 20_000


def _csv_cell(value) -> str:
    buffer = io.StringIO()
    _csv.writer(buffer, lineterminator="").writerow([neutralised("" if value is None else str(value))])
    return buffer.getvalue()


def _oneline(value) -> str:
    return str("" if value is None else value).replace("\r", "\\r").replace("\n", "\\n")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)
    env.filters.update({
        "csv": _csv_cell,
        "cef_header": lambda v: cef.header_escaped(str(v or "")),
        "cef_value": lambda v: cef.extension_escaped(str(v or "")),
        "leef_value": lambda v: leef.value_escaped(str(v or "")),
        "syslog_value": lambda v: syslog.sd_value_escaped(str(v or "")),
        "json": lambda v: _json.dumps(v, ensure_ascii=False, cls=DjangoJSONEncoder),
        "html": lambda v: str(escape("" if v is None else v)),
        "oneline": _oneline,
    })
    return env


ENVIRONMENT = _environment()


class TemplateInvalid(ValueError):
    """A template that does not compile or does not render an example event; the message says why."""


def event_context(event: Event) -> dict:
    return {**text_fields(event), **event_as_json(event), "seq": event.seq}


def template_compile(source: str):
    if len(source) > MAX_SOURCE:
        raise TemplateInvalid(f"the template is longer than {MAX_SOURCE} characters")
    if not source.strip():
        raise TemplateInvalid("the template is empty")
    try:
        return ENVIRONMENT.from_string(source)
    except TemplateError as error:
        raise TemplateInvalid(f"the template does not compile: {error}") from None


def template_render(compiled, event: Event) -> str:
    try:
        return compiled.render(event=event_context(event))
    except TemplateError as error:  # SecurityError and UndefinedError are TemplateErrors
        raise TemplateInvalid(f"the template failed on event {event.event_id}: {error}") from None


def template_format(source: str, *, header: str = "", footer: str = "", extension: str = "txt",
                    content_type: str = "text/plain; charset=utf-8", name: str = "template") -> ExportFormat:
    """An ExportFormat that renders `source` per event; TemplateInvalid if it does not compile."""
    compiled = template_compile(source)

    def render(event: Event) -> str:
        return template_render(compiled, event)

    def write(chunks: Chunks) -> Iterator[str]:
        if header:
            yield header.rstrip("\n") + "\n"
        for events in chunks:
            yield "".join(render(event) + "\n" for event in events)
        if footer:
            yield footer.rstrip("\n") + "\n"

    return ExportFormat(name, "Custom template", content_type, extension, write, render=render)
