from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_builtin_roles(sender, using="default", **kwargs) -> None:
    # The data migration creates the roles; this puts them back after a `flush` (which empties
    # every table and then sends post_migrate, as transactional tests do between tests), in the
    # same way Django itself recreates content types and permissions.
    from apps.rbac.roles import roles_sync

    roles_sync()


class RbacConfig(AppConfig):
    name = "apps.rbac"
    label = "rbac"
    verbose_name = "Access control"

    def ready(self) -> None:
        from apps.events.models import visibility_rule_set
        from apps.rbac.scoping import event_scope

        # The one visibility rule, installed into the log's queryset vocabulary.
        visibility_rule_set(event_scope)
        post_migrate.connect(_sync_builtin_roles, sender=self, dispatch_uid="rbac.sync_builtin_roles")
