from django.urls import path

from apps.importers import api

app_name = "importers_api"

urlpatterns = [
    path("import/<str:format>", api.import_file, name="import"),
]
