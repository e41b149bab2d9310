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
        # The viewer's "include archive" (it may not import this app): apps.search.archive.
        from apps.retention.archive_search import archive_page
        from apps.search.archive import archive_reader_register

        archive_reader_register(archive_page)
