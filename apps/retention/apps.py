from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "apps.retention"
    label = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        # verify_chain --with-archives recomputes archived events from their segments.
        from apps.events.chain_verification import archive_check_register
        from apps.retention.verify import archives_check

        archive_check_register(archives_check)
