from django.apps import AppConfig


class ViewerConfig(AppConfig):
    name = "apps.viewer"
    label = "viewer"
    verbose_name = "The event viewer"
