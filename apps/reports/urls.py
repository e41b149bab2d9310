from django.urls import path

from apps.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("preview/", views.report_preview, name="preview"),
    path("schedules/", views.schedule_index, name="schedules"),
    path("schedules/new/", views.schedule_edit, name="schedule_new"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("frameworks/", views.framework_index, name="frameworks"),
    path("frameworks/<slug:key>/", views.framework_detail, name="framework"),
    path("frameworks/<slug:key>/reset/", views.framework_reset, name="framework_reset"),
    path("frameworks/<slug:key>/controls/<str:ref>/edit/", views.control_edit, name="control_edit"),
    path("<uuid:pk>/", views.report_detail, name="detail"),
    path("<uuid:pk>/download/<str:kind>/", views.report_download, name="download"),
]
