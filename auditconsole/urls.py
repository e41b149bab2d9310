from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from apps.dashboard import views as dashboard_views
from apps.rbac import auth_views as rbac_views
from apps.rbac.permissions import public


@require_GET
@public
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", dashboard_views.dashboard, name="home"),
    path("accounts/login/", rbac_views.login, name="login"),
    path("accounts/logout/", rbac_views.logout, name="logout"),
    path("accounts/invite/<uidb64>/<token>/", rbac_views.invite, name="invite"),
    path("auditor-access/<str:secret>/", rbac_views.auditor_sign_in, name="auditor_sign_in"),
    path("access/", include("apps.rbac.urls")),
    path("events/", include("apps.viewer.urls")),
    path("reports/", include("apps.reports.urls")),
    path("alerts/", include("apps.alerts.urls")),
    path("exports/", include("apps.exports.urls")),
    path("streams/", include("apps.streams.urls")),
    path("import/", include("apps.importers.urls")),
    path("retention/", include("apps.retention.urls")),
    path("api/v1/", include("apps.api.urls")),
    path("api/v1/", include("apps.retention.api_urls")),
    path("healthz", health, name="health"),
]

# Every pooled connection busy is a 503 with Retry-After; anything else a plain 500.
handler500 = "auditconsole.errors.server_error"
