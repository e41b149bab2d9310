"""Secrets at rest: channel URLs, signing secrets, tokens of destinations.

Encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key derived from
settings.SECRET_KEY with HKDF, so the database alone (a dump, a replica, a backup) does not
reveal them. Keys in SECRET_KEY_FALLBACKS still decrypt, so rotating SECRET_KEY does not lose
a stored secret; values are re-encrypted under the new key when next saved.

    token = secret_encrypt("https://hooks.slack.com/services/...")
    secret_decrypt(token)            # the original text
    url = EncryptedTextField()       # a model field that does both transparently
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

_PREFIX = "fernet:"
_INFO = b"audit-console outbound secrets v1"


class SecretError(ValueError):
    """A stored secret that no configured key decrypts (SECRET_KEY changed without a fallback)."""


def _fernet_key(secret_key: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(derived)


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def secret_encrypt(plain: str) -> str:
    """The text form of `plain` encrypted; the empty string stays empty (no secret set)."""
    if not plain:
        return ""
    return _PREFIX + _fernet().encrypt(plain.encode()).decode()


def secret_decrypt(stored: str) -> str:
    """The plain text of a value made by secret_encrypt; SecretError if no key opens it."""
    if not stored:
        return ""
    if not stored.startswith(_PREFIX):
        raise SecretError("not an encrypted value")
    try:
        return _fernet().decrypt(stored[len(_PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise SecretError("no configured key decrypts this secret (SECRET_KEY changed?)") from exc


class EncryptedTextField(models.TextField):
    """A text field stored encrypted (see module docstring); Python code sees the plain text.

    It cannot be filtered on (the ciphertext differs each time), which is intended.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return secret_decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return secret_encrypt(value)
