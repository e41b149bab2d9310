"""Charts as server-rendered SVG: no script, legible in the console and in PDF reports alike.

Each chart carries its own accessible text (role="img", an aria-label summing it up, a <title>
per bar that a pointer or screen reader reaches); the templates put a table of the same
numbers beside it for anyone who cannot read the picture.
"""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

SEVERITY_COLOURS = {"info": "#94a3b8", "low": "#38bdf8", "medium": "#f59e0b", "high": "#dc2626", "critical": "#7f1d1d"}


def _label(moment: datetime, step: str) -> str:
    """An hour in the current time zone (the user's, activated by the view); a day bucket is a
    UTC day (the rollups count whole UTC days), so it is named by its UTC date."""
    if step == "hour":
        return (timezone.localtime(moment) if timezone.is_aware(moment) else moment).strftime("%d %b %H:%M")
    return (moment.astimezone(dt_timezone.utc) if timezone.is_aware(moment) else moment).strftime("%d %b")


def column_chart(series: list[tuple[datetime, int]], *, step: str, label: str, width: int = 720, height: int = 160,
                 colour: str = "#0f766e") -> SafeString:
    """Events over time: one column per bucket, with the first, middle and last times below."""
    top = max([count for _, count in series] + [1])
    plot_h, gap = height - 22, 1 if len(series) > 60 else 2
    bar_w = width / max(len(series), 1)
    parts = [format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">',
                         width, height, f"{label}: {sum(c for _, c in series)} events, at most {top} per {step}")]
    parts.append(format_html("<title>{}</title>", label))
    for fraction in (0.5, 1.0):
        y = plot_h - plot_h * fraction
        parts.append(format_html('<line class="grid" x1="0" x2="{}" y1="{}" y2="{}"/>', width, f"{y:.1f}", f"{y:.1f}"))
        parts.append(format_html('<text class="axis" x="2" y="{}">{}</text>', f"{y + 11:.1f}", int(top * fraction)))
    for index, (moment, count) in enumerate(series):
        h = plot_h * count / top
        parts.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} events</title></rect>',
            f"{index * bar_w + gap / 2:.2f}", f"{plot_h - h:.2f}", f"{max(bar_w - gap, 0.5):.2f}", f"{h:.2f}",
            colour, _label(moment, step), count))
    if series:
        for index, anchor in ((0, "start"), (len(series) // 2, "middle"), (len(series) - 1, "end")):
            x = index * bar_w + (bar_w if anchor == "end" else bar_w / 2 if anchor == "middle" else 0)
            parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                                     f"{x:.1f}", height - 4, anchor, _label(series[index][0], step)))
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))


def meter(count: int, top: int, *, colour: str = "#0f766e") -> SafeString:
    """A small horizontal bar for a ranked row (the row's text says the number)."""
    width = 100 * count / top if top else 0
    return format_html('<svg class="meter" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">'
                       '<rect width="100" height="6" fill="#eef2f6"/><rect width="{}" height="6" fill="{}"/></svg>',
                       f"{width:.2f}", colour)


def sparkline(series: list[tuple[datetime, int]], *, label: str, width: int = 160, height: int = 28) -> SafeString:
    """A line of counts over time (ingestion per source)."""
    top = max([count for _, count in series] + [1])
    step = width / max(len(series) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * count / top:.1f}" for i, (_, count) in enumerate(series))
    return format_html('<svg class="spark" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>'
                       '<polyline points="{}" fill="none" stroke="#0f766e" stroke-width="1.5"/></svg>',
                       width, height, label, label, points)


def text(value) -> str:
    return escape(value)
