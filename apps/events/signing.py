"""The Ed25519 key that signs checkpoints.

The key comes from AUDIT_SIGNING_KEY (base64 of the 32-byte private seed). On a developer's
machine, when that is unset, a key is generated once into AUDIT_SIGNING_KEY_FILE so that
checkpoints made across restarts verify with the same public key.
"""
from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings


class SigningKeyError(RuntimeError):
    pass


def _load_seed() -> bytes:
    encoded = settings.AUDIT_SIGNING_KEY
    if not encoded:
        path = settings.AUDIT_SIGNING_KEY_FILE
        if not path.exists():
            seed = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            # Written with owner-only permissions: it is a private key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(seed).decode() + "\n")
        encoded = path.read_text().strip()
    try:
        seed = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise SigningKeyError("AUDIT_SIGNING_KEY is not valid base64") from exc
    if len(seed) != 32:
        raise SigningKeyError("AUDIT_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed")
    return seed


@lru_cache(maxsize=1)
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_load_seed())


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def public_key_raw(key: Ed25519PublicKey | None = None) -> bytes:
    key = key or public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem() -> str:
    return public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PublicKey | None = None) -> str:
    """A short fingerprint of the public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key_raw(key)).hexdigest()[:16]


def sign(message: bytes) -> bytes:
    return private_key().sign(message)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key given as PEM, or as base64 of the 32 raw bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("the public key is not an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))
