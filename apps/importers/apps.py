from django.apps import AppConfig


class ImportersConfig(AppConfig):
    name = "apps.importers"
    label = "importers"
    verbose_name = "Importers"
