"""The Ed25519 key that signs checkpoints.

The key comes from AUDIT_SIGNING_KEY (base64 of the 32-byte private seed). On a developer's
machine, when that is unset, a key is generated once into AUDIT_SIGNING_KEY_FILE so that
checkpoints made across restarts verify with the same public key.
"""
from __future__ import annotations

import base64
import hashlib
import os
import threading
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings


class SigningKeyError(RuntimeError):
    pass


def _generate_key_file(path) -> None:
    """Write a new key to `path` unless another process or thread gets there first.

    The web server and the worker start together on a fresh machine, so two of them may both
    find no key. The key is written whole to a private temporary file and then linked into
    place, which fails if the file exists: everyone ends up reading the one complete key,
    never a half-written file, and nobody's key is replaced.
    """
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    # Written with owner-only permissions: it is a private key.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(seed).decode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)


def _load_seed() -> bytes:
    encoded = settings.AUDIT_SIGNING_KEY
    if not encoded:
        path = settings.AUDIT_SIGNING_KEY_FILE
        if not path.exists():
            _generate_key_file(path)
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
