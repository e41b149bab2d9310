"""Archived events for the log's readers ("include archive"): a hook the retention app fills.

The viewer is a feature app and may not import another one (.importlinter); retention keeps
the archive. So retention registers its reader here when it loads (RetentionConfig.ready), and
the viewer asks this module. Without the retention app installed there is no reader, and the
viewer offers no archive.

A reader is `reader(*, principal, condition, limit, offset=0, order="newest", start=None,
end=None)` returning a page with `events` (unsaved Events, each with `.archived`), `total`
and `segments_searched`; it applies the visibility rule itself (apps.rbac.scoping), to hot and
archived events alike.
"""
from __future__ import annotations

from collections.abc import Callable

_reader: Callable | None = None


def archive_reader_register(reader: Callable) -> None:
    global _reader
    _reader = reader


def archive_reader() -> Callable | None:
    """The registered reader, or None when no app keeps an archive."""
    return _reader
