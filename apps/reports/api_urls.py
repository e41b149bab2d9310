from django.urls import path

from apps.reports import api

app_name = "reports_api"

# Mounted under /api/v1/ (no trailing slashes, as the rest of the API).
urlpatterns = [
    path("reports", api.report_create, name="create"),
    path("reports/<uuid:pk>", api.report_status, name="status"),
    path("reports/<uuid:pk>/<str:kind>", api.report_file, name="file"),
]
