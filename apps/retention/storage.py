"""Cold storage for segment files: a local directory or S3-compatible object storage.

RETENTION_COLD_URL is `file:///path` or `s3://bucket/prefix`. On S3, when the bucket has
Object Lock, each object is written in COMPLIANCE mode retained until the segment's delete
age, so not even the bucket's owner can remove it earlier.
"""
from __future__ import annotations

import hashlib
import shutil
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings


class ColdStorage(ABC):
    """A place segment files are copied to, read back from and deleted from, by key: a local
    directory (LocalCold) or an S3 bucket; `cold_storage()` picks one from RETENTION_COLD_URL."""

    @abstractmethod
    def put(self, key: str, source: Path, *, retain_until: datetime | None = None) -> None:
        """Store `source` under `key`, kept at least until `retain_until` where the store can lock."""

    @abstractmethod
    def get(self, key: str, target: Path) -> None:
        """Copy the object at `key` to `target`."""

    @abstractmethod
    def digest(self, key: str) -> tuple[bytes, int] | None:
        """SHA-256 and size of the object at `key`; None when there is none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at `key` (the store may refuse while it is locked)."""


def _file_digest(handle) -> tuple[bytes, int]:
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
        size += len(block)
    return digest.digest(), size


class LocalCold(ColdStorage):
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"cold key {key!r} leaves the cold directory")
        return path

    def put(self, key, source, *, retain_until=None):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(source, temporary)
        temporary.replace(path)

    def get(self, key, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), target)

    def digest(self, key):
        path = self._path(key)
        if not path.exists():
            return None
        with open(path, "rb") as handle:
            return _file_digest(handle)

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)


class S3Cold(ColdStorage):
    def __init__(self, bucket: str, prefix: str):
        import boto3

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=settings.RETENTION_S3_ENDPOINT_URL,
                                   region_name=settings.RETENTION_S3_REGION)
        self._object_lock = None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_lock(self) -> bool:
        if self._object_lock is None:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                self._object_lock = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except self.client.exceptions.ClientError:
                self._object_lock = False
        return self._object_lock

    def put(self, key, source, *, retain_until=None):
        extra = {}
        if retain_until is not None and self.object_lock():
            extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        with open(source, "rb") as handle:
            body = handle.read()
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body,
                               ChecksumAlgorithm="SHA256", **extra)

    def get(self, key, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.bucket, self._key(key), str(target))

    def digest(self, key):
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return _file_digest(response["Body"])

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def cold_storage() -> ColdStorage:
    url = urlparse(settings.RETENTION_COLD_URL)
    if url.scheme == "file":
        return LocalCold(Path(unquote(url.path)))
    if url.scheme == "s3":
        return S3Cold(url.netloc, url.path)
    raise ValueError(f"RETENTION_COLD_URL must be file:///path or s3://bucket/prefix, not {settings.RETENTION_COLD_URL!r}")
