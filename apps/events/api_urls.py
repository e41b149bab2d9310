from django.urls import path

from apps.events import api

app_name = "api"

urlpatterns = [
    path("events", api.events_ingest, name="events"),
    path("audit-logs", api.audit_log_list, name="audit-logs"),
    # Before the detail route, whose <path:event_id> would otherwise take them.
    path("audit-logs/search", api.audit_log_search, name="audit-logs-search"),
    path("audit-logs/export", api.audit_log_export, name="audit-logs-export"),
    path("audit-logs/<path:event_id>", api.audit_log_detail, name="audit-log"),
    path("verify", api.chain_verify, name="verify"),
    path("checkpoints", api.checkpoint_list, name="checkpoints"),
    path("openapi.json", api.openapi_json, name="openapi"),
]
