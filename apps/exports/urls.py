from django.urls import path

from apps.exports import views

app_name = "exports"

urlpatterns = [
    path("", views.export_new, name="new"),
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_edit, name="template_new"),
    path("templates/<int:pk>/edit/", views.template_edit, name="template_edit"),
    path("templates/<int:pk>/delete/", views.template_delete, name="template_delete"),
    path("<uuid:pk>/", views.job_detail, name="job"),
    path("<uuid:pk>/download/", views.job_download, name="download"),
]
