"""Builders the tests share: a JSON API client with a bearer token, and role assignment without the
audit trail. Test modules import these from here, never from one another."""
from __future__ import annotations

import json

from django.test import Client

from apps.rbac.models import Role, RoleAssignment


class ApiClient:
    """A Django test client that sends JSON with a bearer token."""

    def __init__(self, secret: str | None = None) -> None:
        self.client = Client()
        self.secret = secret

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        headers.update(extra or {})
        return headers

    def post(self, path: str, body=None, *, raw: bytes | str | None = None,
             content_type: str = "application/json", headers: dict | None = None):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data=data, content_type=content_type, headers=self._headers(headers))

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))


def give_role(user, slug: str, **limits) -> RoleAssignment:
    """Assign a role directly, without the audit trail (setting up a test is not a change to record)."""
    return RoleAssignment.objects.create(user=user, role=Role.objects.get(slug=slug), **limits)
