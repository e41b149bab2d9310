from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The project itself as an app, for the commands that run it: `serve` and `run_worker`."""

    name = "auditconsole"
    label = "console"
    verbose_name = "Audit console"
