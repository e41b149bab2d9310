"""The dashboard at /: activity, security signals, compliance and ingestion health."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET

from apps.dashboard import charts
from apps.dashboard.reads import PERIODS, audit_window, dashboard_get
from apps.events.query import QueryError
from apps.rbac.audit_trail import audit_record
from apps.rbac.permissions import requires
from apps.rbac.preferences import user_zone
from apps.search import activity
from apps.search.filter_fields import BoundFilter
from apps.search.scope_notes import scope_note

# A window chosen by From/To is counted from the events table: at most this long.
MAX_WINDOW = timedelta(days=31)


@require_GET
@requires("events.view_event", audit_action="audit.dashboard.view")
def dashboard(request: HttpRequest) -> HttpResponse:
    # `range` as in the viewer (24h, 7d, 30d); `period` is its older name.
    chosen = request.GET.get("range") or request.GET.get("period")
    period = chosen if chosen in PERIODS else "24h"
    console = request.GET.get(activity.PARAM) == activity.CONSOLE
    window, error = None, None
    if request.GET.get("start_date") or request.GET.get("end_date"):
        window, error = _window(request.GET)
    elif not chosen:
        window = audit_window(request.user)  # an auditor's dashboard opens on their audit window
    board = dashboard_get(user=request.user, period_key=period, console=console, window=window)
    audit_record(request=request, action="audit.dashboard.view", resource_type="dashboard",
                 description=f"{request.user.get_username()} viewed the dashboard",
                 metadata={"period": board.period.key, "from_rollups": board.from_rollups, "total": board.total,
                           "activity": activity.CONSOLE if console else activity.SYSTEMS,
                           "window": [moment.isoformat() for moment in window] if window else None})
    # Times are shown in the user's zone (their preference, apps.rbac): Django's date filter and
    # the charts' hour labels read the zone activated here.
    zone = user_zone(request.user)
    with timezone.override(zone):
        return _render(request, board, window, error, console, zone)


def _render(request, board, window, error, console, zone) -> HttpResponse:
    ingestion_charts = []
    if board.ingestion:
        ingestion_charts = [
            (source, count, charts.sparkline(board.ingestion["series"][source], label=f"{source}: {count} events in 24 hours"))
            for source, count in board.ingestion["sources"]
        ]
    top_of = {name: max([row.count for row in getattr(board, name)] + [1])
              for name in ("categories", "actions", "actors", "resources", "outcomes")}
    ranked = [
        (title, [(row, charts.meter(row.count, top_of[name])) for row in getattr(board, name)])
        for title, name in (("By category", "categories"), ("Top actions", "actions"), ("Top actors", "actors"),
                            ("Top resources", "resources"))
    ]
    window_qs = ""
    if window:
        window_qs = f"&start_date={_iso(window[0])}&end_date={_iso(window[1] - timedelta(seconds=1))}"
    return render(request, "dashboard.html", {
        "board": board, "panels": panels_for(request.user), "periods": PERIODS.values(), "ranked": ranked, "ingestion_charts": ingestion_charts,
        "activity_qs": f"&{activity.PARAM}={activity.CONSOLE}" if console else "",
        "zone_label": zone.key, "window": window, "window_qs": window_qs, "window_error": error, "scope_note": scope_note(user=request.user),
        "window_start": _iso(window[0]) if window else "",
        "window_end": _iso(window[1] - timedelta(seconds=1)) if window else "",  # the last second in it
        "activity_chart": charts.column_chart(board.series, step=board.series_step,
                                              label=f"Events per {board.series_step}, {board.period.label.lower()}"),
    }, status=400 if error else 200)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(params: QueryDict) -> tuple[tuple[datetime, datetime] | None, str | None]:
    """From/To as the viewer's filter bar reads them (a date covers its day); (None, message) when refused."""
    now = timezone.now()
    start_text, end_text = (params.get("start_date") or "").strip(), (params.get("end_date") or "").strip()
    if not (start_text and end_text):
        return None, "Give both From and To (or choose a period)."
    try:
        start = BoundFilter(end=False).span(start_text, now=now).start
        span = BoundFilter(end=True).span(end_text, now=now)
    except QueryError as error:
        return None, f"Not a time: {error.message}"
    end = span.end + timedelta(microseconds=1) if span.instant else span.end
    if end <= start:
        return None, "The end is before the start."
    if end - start > MAX_WINDOW:
        return None, "A window covers at most 31 days; choose 30d for longer."
    return (start, end), None


def panels_for(user) -> list[dict]:
    """The panels other apps add to the dashboard (settings.DASHBOARD_PANELS: dotted paths of
    functions `panel(*, user) -> {"template": ..., **context} | None`), in that order.

    Named in settings rather than imported, so that the dashboard stays independent of the
    feature apps that contribute to it (the import-linter contract in .importlinter).
    """
    panels = []
    for path in settings.DASHBOARD_PANELS:
        panel = import_string(path)(user=user)
        if panel:
            panels.append(panel)
    return panels
