"""POST /api/v1/audit-logs/export: every matching event (well beyond one page), streamed in
CSV, JSON and JSON Lines with constant memory, formula cells neutralised, a file name that says
the period and the query, and only what the token may see and export.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.http import StreamingHttpResponse
from django.test import AsyncRequestFactory

from apps.api import events as api_views
from apps.search import export, reads
from apps.events.ingest import event_ingest
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient

EXPORT = "/api/v1/audit-logs/export"
START = datetime(2026, 3, 1, tzinfo=dt_timezone.utc)
BULK = 2500  # beyond a page (1,000) and beyond one chunk of the export (2,000)

FORMULAS = {
    "event_id": "formula-1",
    "action": "data.export",
    "timestamp": "2026-02-20T12:00:00Z",
    "description": "=HYPERLINK(\"http://evil.example\",\"click\")",
    "actor": {"id": "-2+3", "name": "+SUM(A1:A9)", "email": "@evil.example"},
    "resource": {"type": "report", "id": "r-1", "name": "report"},
    "user_agent": "=1+1",
    "project": "acme",
}


def _bulk_event(i: int) -> dict:
    return {
        "event_id": f"bulk-{i:05}",
        "action": "storage.object.read" if i % 5 else "storage.object.delete",
        "timestamp": (START + timedelta(seconds=i)).isoformat(),
        "actor": {"id": f"svc-{i % 7}"},
        "resource": {"type": "object", "id": f"obj-{i}"},
        "project": "acme" if i % 2 else "globex",
        "tags": ["bulk"],
        "metadata": {"n": i},
        "changes": {"before": {"size": i}, "after": {"size": i + 1}} if i % 10 == 0 else None,
    }


pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def log(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with transaction.atomic():
            for first in range(0, BULK, 1000):
                event_ingest([_bulk_event(i) for i in range(first, min(first + 1000, BULK))])
            event_ingest([FORMULAS])
            yield
            transaction.set_rollback(True)


@pytest.fixture
def api(log, read_api) -> ApiClient:
    return read_api


def download(api: ApiClient, body: dict) -> tuple[StreamingHttpResponse, str]:
    response = api.post(EXPORT, body)
    assert response.status_code == 200, response.content[:500] if not response.streaming else response.status_code
    assert isinstance(response, StreamingHttpResponse)
    return response, b"".join(response.streaming_content).decode("utf-8")


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_csv_export_holds_every_matching_event_not_just_a_page(api):
    response, text = download(api, {"format": "csv", "query": "tags:bulk"})

    rows = csv_rows(text)
    assert len(rows) == BULK
    assert [row["event_id"] for row in rows] == [f"bulk-{i:05}" for i in range(BULK)]  # oldest first
    assert response["Content-Type"].startswith("text/csv")


def test_csv_columns_are_the_design_field_names_with_json_cells(api):
    _, text = download(api, {"format": "csv", "query": "event_id:bulk-00010"})

    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == export.CSV_COLUMNS
    [row] = csv_rows(text)
    assert json.loads(row["changes"]) == {"before": {"size": 10}, "after": {"size": 11}}
    assert json.loads(row["metadata"]) == {"n": 10}
    assert json.loads(row["tags"]) == ["bulk"]
    assert row["occurred_at"] == "2026-03-01T00:00:10.000000Z"
    assert row["hash"].startswith("sha256:")


def test_a_json_export_is_one_array_of_every_matching_event(api):
    response, text = download(api, {"format": "json", "query": "action:storage.object.delete"})

    events = json.loads(text)
    assert len(events) == BULK // 5
    assert {e["action"] for e in events} == {"storage.object.delete"}
    assert set(events[0]["verification"]) == {"seq", "hash", "prev_hash"}
    assert response["Content-Type"] == "application/json"


def test_a_jsonl_export_is_one_event_per_line(api):
    _, text = download(api, {"format": "jsonl", "filters": {"project": "acme"}, "sort": {"order": "desc"}})

    lines = text.splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == BULK // 2 + 1  # the odd bulk events and the formula event
    assert events[0]["event_id"] == "bulk-02499"
    assert events[-1]["event_id"] == "formula-1"


def test_an_export_with_nothing_to_export_is_a_valid_empty_file(api):
    _, text = download(api, {"format": "json", "query": "event_id:nothing-here"})
    assert json.loads(text) == []
    _, text = download(api, {"format": "csv", "query": "event_id:nothing-here"})
    assert csv_rows(text) == []


def test_the_export_streams_from_an_iterator_in_chunks(api, monkeypatch):
    fetched = []
    original = reads.event_export_copy  # CSV is written by PostgreSQL's COPY, chunk by chunk

    def counting(**kwargs):
        yield from original(**{**kwargs, "chunk": 1000, "progress": fetched.append})

    monkeypatch.setattr(reads, "event_export_copy", counting)
    response = api.post(EXPORT, {"format": "csv", "query": "tags:bulk"})

    assert isinstance(response, StreamingHttpResponse)
    content = response.streaming_content
    assert iter(content) is content  # an iterator, not a list held in memory
    assert fetched == []  # nothing is read before the body is consumed
    parts = list(content)
    assert fetched == [1000, 1000, BULK - 2000]
    assert len(parts) >= 2


def test_under_asgi_the_export_streams_through_an_async_iterator(log, read_token):
    # Django reads a sync iterator whole into memory before sending it under ASGI; the view
    # must hand it an async one. The view is called directly (in this thread, where the test's
    # transaction lives) with the request an ASGI server would make.
    request = AsyncRequestFactory().post(EXPORT, {"format": "jsonl", "query": "tags:bulk"},
                                         content_type="application/json",
                                         headers={"Authorization": f"Bearer {read_token}"})
    response = api_views.audit_log_export(request)

    assert response.status_code == 200
    assert response.is_async

    async def consume():
        return [part async for part in response.streaming_content]

    parts = async_to_sync(consume)()
    assert len(parts) == 2
    assert len(b"".join(parts).splitlines()) == BULK


def test_csv_cells_that_would_run_as_formulas_are_neutralised(api):
    _, text = download(api, {"format": "csv", "query": "event_id:formula-1"})

    [row] = csv_rows(text)
    assert row["description"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert row["actor_name"] == "'+SUM(A1:A9)"
    assert row["actor_id"] == "'-2+3"
    assert row["actor_email"] == "'@evil.example"
    assert row["user_agent"] == "'=1+1"
    assert row["action"] == "data.export"


@pytest.mark.parametrize(("cell", "shown"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tcmd", "'\tcmd"), ("\rx", "'\rx"),
    ("plain", "plain"), ("a=b", "a=b"), ("", ""),
])
def test_neutralised_prefixes_only_cells_that_start_a_formula(cell, shown):
    assert export.neutralised(cell) == shown


def test_json_exports_keep_the_text_as_sent(api):
    _, text = download(api, {"format": "json", "query": "event_id:formula-1"})

    assert json.loads(text)[0]["description"].startswith("=HYPERLINK")


def test_the_file_name_says_the_period_and_the_query(api):
    response, _ = download(api, {"format": "csv", "query": "action:storage.object.delete AND actor:svc-1",
                                 "start_time": "2026-03-01T00:00:00Z", "end_time": "2026-03-02"})

    disposition = response["Content-Disposition"]
    assert disposition == ('attachment; filename="audit-logs_20260301T000000Z_20260303T000000Z_'
                           'actionstorageobjectdelete-and-actorsvc-1.csv"')


def test_the_file_name_of_an_unbounded_export_ends_now(api):
    response, _ = download(api, {"format": "jsonl", "query": "event_id:nothing"})

    name = response["Content-Disposition"].split('"')[1]
    assert name.startswith("audit-logs_beginning_20")
    assert name.endswith("_event_idnothing.jsonl")
    assert all(c.isalnum() or c in "-_." for c in name)


# --- who may export what -------------------------------------------------------------------------


def test_a_project_limited_token_exports_only_its_project(log):
    api = ApiClient(token_issue(scope="read", projects=["globex"]).secret)

    _, text = download(api, {"format": "csv"})

    rows = csv_rows(text)
    assert len(rows) == BULK // 2
    assert {row["project"] for row in rows} == {"globex"}


def test_an_auditor_token_exports_only_inside_its_window(log):
    token = token_issue(scope="auditor", window_start=START, window_end=START + timedelta(seconds=100))
    _, text = download(ApiClient(token.secret), {"format": "jsonl"})

    assert len(text.splitlines()) == 100


def test_a_security_analysts_token_exports(log, people):
    _, text = download(ApiClient(token_issue(scope="read", user=people["analyst"]).secret), {"format": "jsonl", "query": "tags:bulk"})

    assert len(text.splitlines()) == BULK


def test_a_compliance_officers_token_may_not_export_raw_events(log, people):
    response = ApiClient(token_issue(scope="read", user=people["compliance"]).secret).post(EXPORT, {"format": "csv"})

    assert response.status_code == 403
    assert "export" in response.json()["error"]


def test_export_needs_a_read_token(log, ingest_api):
    assert ingest_api.post(EXPORT, {"format": "csv"}).status_code == 403
    assert ApiClient(None).post(EXPORT, {"format": "csv"}).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({}, "format"),
    ({"format": "xlsx"}, "format"),
    ({"format": "template"}, "template"),
    ({"format": "csv", "template": 1}, "template"),
    ({"format": 3}, "format"),
    ({"format": "csv", "limit": 5}, "limit"),
    ({"format": "csv", "query": "actor:"}, "query"),
    ({"format": "csv", "filters": {"status": "exploded"}}, "filters.status"),
    ({"format": "csv", "start_time": "whenever"}, "start_time"),
])
def test_a_bad_export_body_is_a_400_that_names_the_key(api, body, field):
    response = api.post(EXPORT, body)

    assert response.status_code == 400, response.content[:300]
    assert field in {error["field"] for error in response.json()["errors"]}


@pytest.mark.audit_trail
def test_an_export_is_recorded_in_the_audit_trail(api):
    download(api, {"format": "csv", "query": "event_id:formula-1"})

    from apps.events.models import Event

    record = Event.objects.filter(action="audit.api.export").order_by("-seq").first()
    assert record is not None
    assert record.metadata["format"] == "csv"
    assert record.metadata["body"]["query"] == "event_id:formula-1"
    assert record.resource_name.endswith(".csv")
