"""Every /api/v1/ route, in one table (mounted under api/v1/ by auditconsole.urls).

No trailing slashes. The views are the API's own modules: `events` (ingest, reads, export,
verification, checkpoints) and `reports`; `openapi` describes them all.
"""
from django.urls import path

from apps.api import events, importers, reports

app_name = "api"

urlpatterns = [
    path("events", events.events_ingest, name="events"),
    path("audit-logs", events.audit_log_list, name="audit-logs"),
    # Before the detail route, whose <path:event_id> would otherwise take them.
    path("audit-logs/search", events.audit_log_search, name="audit-logs-search"),
    path("audit-logs/export", events.audit_log_export, name="audit-logs-export"),
    path("audit-logs/<path:event_id>", events.audit_log_detail, name="audit-log"),
    path("verify", events.chain_verify, name="verify"),
    path("checkpoints", events.checkpoint_list, name="checkpoints"),
    path("reports", reports.report_create, name="report-create"),
    path("reports/<uuid:pk>", reports.report_status, name="report-status"),
    path("reports/<uuid:pk>/<str:kind>", reports.report_file, name="report-file"),
    path("import/<str:format>", importers.import_file, name="import"),
    path("openapi.json", events.openapi_json, name="openapi"),
]
