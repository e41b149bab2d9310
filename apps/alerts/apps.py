from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        # The outbox's deliverer for alert channels (apps.outbound.registry).
        from apps.alerts import notify  # noqa: F401
