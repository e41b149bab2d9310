"""Where the importer tests' samples are: the real, public audit logs of shared/realdata (sources and
licences in its README) and the hand-written samples beside these tests."""
from __future__ import annotations

from pathlib import Path

from tests.factories import REALDATA

STRATUS = REALDATA / "aws_cloudtrail" / "stratus_red_team"
FALCO = REALDATA / "kubernetes_audit" / "falco_trace_files"
GCP = REALDATA / "gcp_audit" / "gcp_security_analytics_fixtures"
OKTA = REALDATA / "okta" / "panther_test_scenarios"
SAMPLES = Path(__file__).parent / "samples"
