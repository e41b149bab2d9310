"""Access control: API tokens (roles and teams come with the roles issue)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> "ApiTokenQuerySet":
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for the HTTP API.

    Only the SHA-256 of the secret is stored: the secret has 256 bits of entropy, so a fast
    hash is enough (as GitHub and Stripe do), and the plain secret is shown once at issue.
    """

    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest (write events)"
        READ = "read", "Read (search and export)"
        AUDITOR = "auditor", "External auditor (read-only, time-boxed)"

    name = models.TextField(blank=True, default="")
    prefix = models.CharField(max_length=16, help_text="The first characters of the secret, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens",
        help_text="When set, the token sees exactly what this user sees.",
    )
    projects = ArrayField(models.TextField(), default=list, blank=True, help_text="Empty means every project.")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "rbac_api_token"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_start__lt=models.F("window_end")),
                name="api_token_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    # Tokens stand in for a user in the visibility rule; these let code treat both alike.
    is_authenticated = True
    is_anonymous = False
