"""The viewer's picture of a search: the histogram above the results (server-rendered SVG whose bars
are links, so it works without script; static/js/histogram.js adds dragging across bars to narrow
the range) and the facets beside it, each value a link that adds it to the query or excludes it.
The numbers come from apps.search.shape; this module turns them into markup and links."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from apps.events.time_bounds import time_shift
from apps.search import shape
from apps.search.filter_fields import RANGE_PRESETS
from apps.viewer.links import viewer_querystring

WIDTH, HEIGHT, AXIS = 1000, 96, 16
_LABEL = {"minute": "%d %b %H:%M", "hour": "%d %b %H:00", "day": "%d %b %Y", "week": "week of %d %b %Y",
          "month": "%b %Y", "year": "%Y"}
# Shown after the bars: the span's times (a bound edited by hand loses range and paging).
_DROP = ("cursor", "before", "range", "start_date", "end_date")


def time_span(filterset, *, principal, condition) -> tuple[datetime, datetime] | None:
    """The span the histogram covers: the filter bar's From/To or range, else (for the rest) the
    first and last of the visible matches. None when nothing matches and no span is given."""
    data, now = filterset.form.cleaned_data, filterset.now
    start = end = None
    if data.get("start_date"):
        start = filterset.filters["start_date"].span(data["start_date"], now=now).start
    if data.get("end_date"):
        span = filterset.filters["end_date"].span(data["end_date"], now=now)
        end = span.end + timedelta(microseconds=1) if span.instant else span.end
    if start is None and end is None and RANGE_PRESETS.get(data.get("range") or ""):
        start, end = now - RANGE_PRESETS[data["range"]], now + timedelta(seconds=1)
    if start is None or end is None:
        found = shape.event_span(principal=principal, filters=condition)
        if found is None:
            return None
        start = start or found[0]
        end = end or max(time_shift(found[1], timedelta(seconds=1)), time_shift(start, timedelta(minutes=1)))
    if end <= start:
        return None
    return start, end


def _iso(moment: datetime) -> str:
    """A time to the second, as the filter bar reads it (a timestamp covers its whole second)."""
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def histogram_svg(histogram: shape.Histogram, params: QueryDict) -> SafeString:
    """Stacked bars by outcome; each bar a link to the search narrowed to its bucket."""
    bars = histogram.bars
    top = max(histogram.top, 1)
    plot = HEIGHT - AXIS
    width = WIDTH / max(len(bars), 1)
    gap = 1 if len(bars) > 60 else 2
    parts = [format_html(
        '<svg class="histogram-chart" viewBox="0 0 {} {}" preserveAspectRatio="none" role="img" aria-label="{}"'
        ' data-start="{}" data-end="{}" data-step="{}">',
        WIDTH, HEIGHT, (f"about {histogram.total} matching events (estimated from 1 event in {histogram.sample_rate}) "
                        f"per {histogram.step}, at most about {histogram.top} in one") if histogram.approximate else
        f"{histogram.total} matching events per {histogram.step}, at most {histogram.top} in one",
        _iso(histogram.start), _iso(histogram.end), histogram.step)]
    parts.append(format_html('<line class="grid" x1="0" x2="{}" y1="{}" y2="{}"/>', WIDTH, plot, plot))
    for index, (begin, finish, counts) in enumerate(bars):
        total = sum(counts.values())
        x = index * width + gap / 2
        link = "?" + viewer_querystring(params, drop=_DROP, start_date=_iso(begin),
                                        end_date=_iso(finish - timedelta(seconds=1)))
        about = "≈ " if histogram.approximate else ""
        label = (f"{begin.astimezone(dt_timezone.utc).strftime(_LABEL[histogram.step])} UTC: {about}{total} "
                 f"event{'s' if total != 1 else ''}")
        label += "".join(f", {counts[o]} {o}" for o in shape.OUTCOMES if counts.get(o))
        parts.append(format_html('<a class="hbar" href="{}" data-start="{}" data-end="{}"><title>{}</title>'
                                 '<rect class="hhit" x="{}" y="0" width="{}" height="{}"/>',
                                 link, _iso(begin), _iso(finish), label, f"{index * width:.2f}", f"{width:.2f}", plot))
        y = float(plot)
        for outcome in shape.OUTCOMES:
            n = counts.get(outcome, 0)
            if not n:
                continue
            h = plot * n / top
            y -= h
            parts.append(format_html('<rect class="o-{}" x="{}" y="{}" width="{}" height="{}"/>',
                                     outcome, f"{x:.2f}", f"{y:.2f}", f"{max(width - gap, 0.5):.2f}", f"{h:.2f}"))
        parts.append(mark_safe("</a>"))
    for index, anchor in ((0, "start"), (len(bars) // 2, "middle"), (len(bars) - 1, "end")):
        if not bars:
            break
        x = index * width + (width if anchor == "end" else width / 2 if anchor == "middle" else 0)
        moment = bars[index][0].astimezone(dt_timezone.utc).strftime(_LABEL[histogram.step])
        parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                                 f"{x:.1f}", HEIGHT - 3, anchor, moment))
    parts.append(mark_safe('<rect class="hsel" x="0" y="0" width="0" height="{}"/></svg>'.format(plot)))
    return mark_safe("".join(parts))


@dataclass
class FacetValue:
    value: str
    count: int
    add_qs: str
    exclude_qs: str


def facet_links(facets: list[shape.Facet], params: QueryDict) -> list[tuple[shape.Facet, list[FacetValue]]]:
    """Each facet with its values, each value with the query strings that add it or exclude it."""
    query = (params.get("q") or "").strip()

    def with_term(term: str) -> str:
        return viewer_querystring(params, q=f"({query}) AND {term}" if query else term)

    return [
        (facet, [FacetValue(value, count, with_term(shape.facet_query(facet.key, value)),
                            with_term("NOT " + shape.facet_query(facet.key, value)))
                 for value, count in facet.values])
        for facet in facets
    ]
