"""ArcSight Common Event Format (CEF 0), one event per line.

    CEF:0|AuditConsole|Audit Log Console|1.0|<action>|<name>|<severity 0-10>|<extension>

Escaping follows the CEF specification ("Implementing ArcSight CEF", rev. 25):
- header fields: backslash as `\\\\` and pipe as `\\|`; a line break has no escape in the
  header, so it is written as a space;
- extension values: backslash as `\\\\`, equals as `\\=`, line feed as `\\n` and carriage
  return as `\\r`; a pipe is NOT escaped there (the spec says so);
- extension keys are fixed names of the CEF dictionary (or our own cs/cn labels), never taken
  from the event.

Mapping: rt = occurred_at (epoch ms), externalId = event_id, act = action, cat = category,
outcome, suser/suid/suser email (suser = actor name or id, suid = actor id, sntdom = not used),
src = IP address, requestClientApplication = user agent, requestMethod, request = request path,
msg = description, cn1 = seq (label "seq"), cs1 = project, cs2 = resource type, cs3 = resource
id, cs4 = resource name, cs5 = trace id, cs6 = hash; duser is not used.
"""
from __future__ import annotations

from apps.events.chain import format_ip, hash_label
from apps.search.formats.base import PRODUCT, PRODUCT_VERSION, SEVERITY_0_10, VENDOR, ExportFormat, epoch_millis, lines
from apps.events.models import Event


def header_escaped(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("|", "\\|")
            .replace("\r\n", " ").replace("\r", " ").replace("\n", " "))


def extension_escaped(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r", "\\r").replace("\n", "\\n"))


def _extension(event: Event) -> list[tuple[str, str]]:
    pairs = [
        ("rt", str(epoch_millis(event.occurred_at))),
        ("externalId", event.event_id),
        ("act", event.action),
        ("cat", event.category),
        ("outcome", event.outcome),
        ("suser", event.actor_name or event.actor_id),
        ("suid", event.actor_id),
        ("src", format_ip(event.ip_address) or ""),
        ("requestClientApplication", event.user_agent),
        ("requestMethod", event.request_method),
        ("request", event.request_path),
        ("msg", event.description),
        ("cn1Label", "seq"), ("cn1", str(event.seq)),
        ("cs1Label", "project"), ("cs1", event.project),
        ("cs2Label", "resourceType"), ("cs2", event.resource_type),
        ("cs3Label", "resourceId"), ("cs3", event.resource_id),
        ("cs4Label", "resourceName"), ("cs4", event.resource_name),
        ("cs5Label", "traceId"), ("cs5", event.trace_id),
        ("cs6Label", "hash"), ("cs6", hash_label(event.hash)),
    ]
    return [(key, value) for key, value in pairs if value]


def render(event: Event) -> str:
    header = [
        "CEF:0", VENDOR, PRODUCT, PRODUCT_VERSION,
        header_escaped(event.action),
        header_escaped(event.description or event.action)[:512],
        str(SEVERITY_0_10.get(event.severity, 1)),
    ]
    extension = " ".join(f"{key}={extension_escaped(value)}" for key, value in _extension(event))
    return "|".join(header) + "|" + extension


FORMAT = ExportFormat("cef", "CEF (ArcSight)", "text/plain; charset=utf-8", "cef", lines(render), render=render)
