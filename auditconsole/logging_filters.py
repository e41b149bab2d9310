"""Logging filters of the console's processes."""
from __future__ import annotations

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """Django logs a refused request (PermissionDenied's 403, Http404) with the exception's
    traceback, which fills the server log with stack traces for the ordinary work of deny by
    default. Such a record keeps its one line (method, path, status); a 5xx keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.request") and status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
