from django.urls import path

from apps.importers import views

app_name = "importers"

urlpatterns = [
    path("", views.import_page, name="page"),
    path("preview/", views.import_preview, name="preview"),
    path("run/", views.import_confirm, name="confirm"),
]
