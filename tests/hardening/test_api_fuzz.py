"""Every operation of the API's OpenAPI document, fuzzed by schemathesis: never a 5xx.

Schemathesis generates requests from /api/v1/openapi.json (valid ones and, through its
negative-data phase, some that break the schema) and sends them to the Django WSGI app in
process, so the requests run against the test database of this test. The number of examples
per operation is bounded so that the whole runs in well under a minute.
"""
from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from apps.api.openapi import openapi_document
from apps.rbac.tokens import token_issue



def _app_in_the_test_transaction(environ, start_response):
    """The WSGI app, keeping the test's database connection (and its transaction) open, as
    Django's test client does: the real handler closes old connections around each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return _APP(environ, start_response)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


_APP = get_wsgi_application()
schema = schemathesis.openapi.from_dict(openapi_document())
schema.app = _app_in_the_test_transaction

EXAMPLES = 10


@pytest.fixture
def tokens(db, people, ingest):
    # A few events for the reads to find, and one token of each scope the operations need.
    ingest({"event_id": "fz-1", "action": "auth.login", "actor_id": "alice", "project": "p1"},
           {"event_id": "fz-2", "action": "iam.role.update", "actor_id": "bob", "project": "p2"})
    return {"ingest": token_issue(scope="ingest").secret,
            "read": token_issue(scope="read", user=people["admin"]).secret}


@pytest.mark.audit_trail
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_api_operation_answers_a_server_error(case, tokens):
    scope = "ingest" if case.operation.path == "/api/v1/events" else "read"
    response = case.call(headers={"Authorization": f"Bearer {tokens[scope]}"})

    assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text[:500])
