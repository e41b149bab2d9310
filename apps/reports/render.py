"""A report's figures as PDF (WeasyPrint), CSV and JSON.

Everything shown comes from the figures dict of apps.reports.generation; event fields in it are
attacker-controlled, so the PDF is rendered from an autoescaping Django template and the CSV
neutralises cells a spreadsheet would run as formulas.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.search.export import neutralised

# The PDF lists the first and last few checkpoints of a long period; the evidence pack has them all.
_CHECKPOINTS_SHOWN = 6
_PDF_CHART_STYLE = ("<style>.grid{stroke:#d7dee6;stroke-width:1}.axis{font:10px sans-serif;fill:#5b6775}"
                    ".under{fill:#ffffff;fill-opacity:.85}</style>")


def file_stem(figures: dict) -> str:
    meta = figures["report"]
    kind = meta["framework"] or meta["type"]
    start, end = meta["period_start"][:10], meta["period_end"][:10]
    stem = f"{kind}-report-{start}-to-{end}-{meta['id'][:8]}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem)


def chart(series: list, *, step: str, label: str, width: int = 640, height: int = 130) -> str:
    """Events over time for print: the console's column chart (apps.dashboard.charts.column_chart:
    same geometry, grid and labels), drawn for a PDF.

    A PDF has no pointer to reach a bar's <title>, and WeasyPrint styles and draws every SVG
    element on its own (a report's 13 charts of 90 bars, each bar with its title, were 2,500
    elements and seconds of its time): the columns are one path here. The axis labels are drawn
    after the columns, so the middle one is never hidden under them.
    """
    points = [(datetime.fromisoformat(moment.replace("Z", "+00:00")), count) for moment, count in series]
    top = max([count for _, count in points] + [1])
    plot_h, gap = height - 22, 1 if len(points) > 60 else 2
    bar_w = width / max(len(points), 1)
    total = sum(count for _, count in points)
    columns = "".join(
        f"M{index * bar_w + gap / 2:.2f} {plot_h - plot_h * count / top:.2f}h{max(bar_w - gap, 0.5):.2f}"
        f"V{plot_h}H{index * bar_w + gap / 2:.2f}Z"
        for index, (_, count) in enumerate(points) if count
    )
    parts = [format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                         'preserveAspectRatio="none">', width, height,
                         f"{label}: {total} events, at most {top} per {step}"),
             mark_safe(_PDF_CHART_STYLE), format_html("<title>{}</title>", label)]
    labels = []
    for fraction in (0.5, 1.0):
        y = plot_h - plot_h * fraction
        parts.append(format_html('<line class="grid" x1="0" x2="{}" y1="{}" y2="{}"/>', width, f"{y:.1f}", f"{y:.1f}"))
        # The scale's labels sit inside the plot, over the columns: on a light patch of their own.
        value = int(top * fraction)
        labels.append(format_html('<rect class="under" x="0" y="{}" width="{}" height="13"/>'
                                  '<text class="axis" x="2" y="{}">{}</text>',
                                  f"{y + 1:.1f}", 6 * len(str(value)) + 5, f"{y + 11:.1f}", value))
    if columns:
        parts.append(format_html('<path d="{}" fill="#0f766e"/>', columns))
    if points:
        for index, anchor in ((0, "start"), (len(points) // 2, "middle"), (len(points) - 1, "end")):
            x = index * bar_w + (bar_w if anchor == "end" else bar_w / 2 if anchor == "middle" else 0)
            labels.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                                      f"{x:.1f}", height - 4, anchor, _label(points[index][0], step)))
    return mark_safe("".join([*parts, *labels, "</svg>"]))


def _label(moment: datetime, step: str) -> str:
    return moment.strftime("%d %b %H:%M" if step == "hour" else "%d %b")


def _decorate(block: dict, labels: dict) -> dict:
    figures = block["figures"]
    block["chart"] = chart(figures["series"], step=figures["step"], label=block.get("title", "Events"))
    block["top_actors_named"] = [(labels.get(k, ""), k, v) for k, v in figures["top_actors"]]
    return block


# Bidirectional controls would reorder what an auditor reads ("gnp.exe" shown as "exe.png");
# in the PDF they are shown as their code point instead.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(value):
    if isinstance(value, str):
        return _BIDI.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", value)
    if isinstance(value, list):
        return [_visible(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_visible(v) for v in value)
    if isinstance(value, dict):
        return {k: _visible(v) for k, v in value.items()}
    return value


def report_pdf(figures: dict) -> bytes:
    from weasyprint import HTML

    figures = _visible(figures)
    labels = figures.get("actor_labels", {})
    verification = dict(figures["verification"])
    checkpoints = verification.get("checkpoints") or []
    if len(checkpoints) > 2 * _CHECKPOINTS_SHOWN:
        verification["checkpoints_shown"] = checkpoints[:_CHECKPOINTS_SHOWN] + checkpoints[-_CHECKPOINTS_SHOWN:]
        verification["checkpoints_hidden"] = len(checkpoints) - 2 * _CHECKPOINTS_SHOWN
    else:
        verification["checkpoints_shown"], verification["checkpoints_hidden"] = checkpoints, 0
    context = {
        "f": figures, "meta": figures["report"], "verification": verification,
        "summary": _decorate(dict(figures["summary"]), labels),
        "sections": [_decorate(dict(s), labels) for s in figures["sections"]],
        "controls": [{**c, "evidence": [_decorate(dict(e), labels) for e in c["evidence"]]}
                     for c in figures["controls"]],
        "groups": figures.get("groups"), "labels": labels,
    }
    html = render_to_string("reports/pdf/report.html", context)
    return HTML(string=html, base_url=None).write_pdf()


def _item_rows(scope: str, name: str, block: dict) -> list[list]:
    figures = block["figures"]
    rows = [[scope, name, "events", "", figures["events"]],
            [scope, name, "unique_actors", "", figures["unique_actors"]],
            [scope, name, "resources_affected", "", figures["resources_affected"]]]
    rows += [[scope, name, "outcome", key, value] for key, value in figures["by_outcome"].items()]
    rows += [[scope, name, "severity", key, value] for key, value in figures["by_severity"].items()]
    rows += [[scope, name, "top_actor", key, value] for key, value in figures["top_actors"]]
    rows += [[scope, name, "top_action", key, value] for key, value in figures["top_actions"]]
    rows += [[scope, name, "top_resource", key, value] for key, value in figures["top_resources"]]
    rows += [[scope, name, f"per_{figures['step']}", key, value] for key, value in figures["series"]]
    return rows


def report_csv(figures: dict) -> str:
    """The same figures as the PDF, one per row: scope, item, metric, key, value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["scope", "item", "metric", "key", "value"])
    meta = figures["report"]
    for key in ("title", "type", "framework", "period_start", "period_end", "query", "subject",
                "generated_by", "generated_at"):
        writer.writerow(["report", "", key, "", neutralised(str(meta.get(key) or ""))])
    rows = _item_rows("summary", "all events", figures["summary"])
    for section in figures["sections"]:
        rows += _item_rows("section", section["key"], section)
    for control in figures["controls"]:
        for evidence in control["evidence"]:
            rows += _item_rows(f"control {control['ref']}", evidence["title"], evidence)
    if figures.get("groups"):
        for row in figures["groups"]["rows"]:
            for metric in ("event_count", "unique_users", "resources_affected"):
                rows.append([f"group by {figures['groups']['by']}", row["key"], metric, "", row[metric]])
    verification = figures["verification"]
    for key in ("verified", "first_seq", "last_seq", "first_hash", "last_hash", "method", "summary"):
        rows.append(["verification", "", key, "", verification.get(key)])
    for row in rows:
        writer.writerow([neutralised(str(cell)) if isinstance(cell, str) else cell for cell in row])
    return out.getvalue()


def report_json(figures: dict) -> str:
    return json.dumps(figures, indent=2, ensure_ascii=False, default=str)
