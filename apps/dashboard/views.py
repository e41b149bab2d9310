"""The dashboard at /: activity, security signals, compliance and ingestion health."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.dashboard import charts
from apps.dashboard.reads import PERIODS, dashboard_get
from apps.rbac.audit_trail import audit_record
from apps.rbac.permissions import requires


@require_GET
@requires("events.view_event", audit_action="audit.dashboard.view")
def dashboard(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period") if request.GET.get("period") in PERIODS else "24h"
    board = dashboard_get(user=request.user, period_key=period)
    audit_record(request=request, action="audit.dashboard.view", resource_type="dashboard",
                 description=f"{request.user.get_username()} viewed the dashboard",
                 metadata={"period": period, "from_rollups": board.from_rollups, "total": board.total})
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
    return render(request, "dashboard.html", {
        "board": board, "periods": PERIODS.values(), "ranked": ranked, "ingestion_charts": ingestion_charts,
        "activity_chart": charts.column_chart(board.series, step=board.series_step,
                                              label=f"Events per {board.series_step}, {board.period.label.lower()}"),
    })
