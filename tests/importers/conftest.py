"""Fixtures of the importer tests: an import of files by path, and a search of what it stored
(where the samples are: tests/importers/samples_paths.py)."""
from __future__ import annotations

from contextlib import ExitStack
import pytest

from apps.importers.run import import_run

@pytest.fixture
def import_files(db):
    """Import files by path through the one import path; returns the ImportSummary."""

    def run(*paths, **options):
        with ExitStack() as stack:
            sources = [(str(path), stack.enter_context(open(path, "rb"))) for path in paths]
            return import_run(sources, **options)

    return run


@pytest.fixture
def find():
    """Stored events matching a query of the query language, oldest first."""
    from apps.events.models import Event
    from apps.events.query import parse_query

    def search(text: str):
        return list(Event.objects.filter(parse_query(text)).order_by("occurred_at", "seq"))

    return search
