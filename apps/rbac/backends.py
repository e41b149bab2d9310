"""Authentication backend whose permissions come from role assignments only."""
from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from apps.rbac.grants import grants_of


class RoleBackend(ModelBackend):
    """Checks passwords as Django does; grants the permissions of the user's active roles.

    Django's per-user permissions and groups are ignored on purpose: roles are the one way to
    hold a permission, so the role pages show everything anyone may do. Superusers (the
    break-glass accounts made with createsuperuser) keep Django's meaning: every permission.
    """

    def get_user_permissions(self, user_obj, obj=None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is not None:
            return set()
        permissions: set[str] = set()
        for grant in grants_of(user_obj):
            permissions |= grant.permissions
        return permissions
