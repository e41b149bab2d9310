"""Helpers for the importer tests: where the real samples are, and an import of files by path."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from apps.importers.run import import_run

# Real, public audit logs (sources and licences: /work/shared/realdata/README.md).
REALDATA = Path("/work/shared/realdata")
STRATUS = REALDATA / "aws_cloudtrail" / "stratus_red_team"
FALCO = REALDATA / "kubernetes_audit" / "falco_trace_files"
GCP = REALDATA / "gcp_audit" / "gcp_security_analytics_fixtures"
OKTA = REALDATA / "okta" / "panther_test_scenarios"
SAMPLES = Path(__file__).parent / "samples"


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
