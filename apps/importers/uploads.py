"""Files uploaded on the import page, kept between the preview and the import.

The file is written under a random name in a private directory and remembered in the
uploader's session, so only the person who previewed it can import it, and a file name sent
by the browser never becomes a path. Uploads left behind are removed after an hour.
"""
from __future__ import annotations

import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_KEY = "importers_uploads"
MAX_AGE_SECONDS = 3600
MAX_PER_SESSION = 5


@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    format: str
    project: str
    size: int

    @property
    def path(self) -> Path:
        return upload_dir() / self.id


def upload_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "auditconsole-imports"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def upload_save(session, *, file, format: str, project: str) -> Upload:
    """Keep an uploaded file (a Django UploadedFile) for the session; forget the oldest past a few."""
    _sweep()
    upload = Upload(id=secrets.token_urlsafe(18), name=os.path.basename(file.name or "upload")[:200],
                    format=format, project=project, size=file.size or 0)
    with open(upload.path, "wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
    kept = dict(session.get(SESSION_KEY) or {})
    kept[upload.id] = {"name": upload.name, "format": format, "project": project, "size": upload.size}
    for old in list(kept)[:-MAX_PER_SESSION]:
        upload_discard(session, old, kept=kept)
    session[SESSION_KEY] = kept
    return upload


def upload_get(session, upload_id: str) -> Upload | None:
    """The session's upload of that id, if it is still there."""
    found = (session.get(SESSION_KEY) or {}).get(upload_id)
    if not found or not isinstance(upload_id, str):
        return None
    upload = Upload(id=upload_id, **found)
    return upload if upload.path.is_file() else None


def upload_discard(session, upload_id: str, *, kept: dict | None = None) -> None:
    kept = kept if kept is not None else dict(session.get(SESSION_KEY) or {})
    if kept.pop(upload_id, None) is not None:
        (upload_dir() / upload_id).unlink(missing_ok=True)
    session[SESSION_KEY] = kept


def _sweep() -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in upload_dir().iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass
