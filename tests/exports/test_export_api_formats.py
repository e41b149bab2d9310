"""POST /api/v1/audit-logs/export in every format, and with a stored template."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from apps.search.formats import FORMATS
from apps.exports.models import ExportTemplate
from apps.rbac.tokens import token_issue
from tests.factories import ApiClient

pytestmark = pytest.mark.django_db
EXPORT = "/api/v1/audit-logs/export"


def body_of(response) -> bytes:
    assert response.status_code == 200, response.content[:300] if not response.streaming else response.status_code
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_exports_through_the_api_with_its_type_and_extension(stored, read_api, name):
    response = read_api.post(EXPORT, {"format": name, "query": "project:acme"})

    data = body_of(response)
    fmt = FORMATS[name]
    assert response["Content-Type"] == fmt.content_type
    assert response["Content-Disposition"].endswith(f'.{fmt.extension}"')
    if name == "parquet":
        assert pq.read_table(io.BytesIO(data)).num_rows == 4
    elif name in ("cef", "leef", "syslog", "jsonl", "ocsf"):
        assert len(data.decode().splitlines()) == 4
    elif name == "json":
        assert len(json.loads(data)) == 4


def test_a_project_limited_token_gets_only_its_project_in_cef(stored):
    api = ApiClient(token_issue(scope="read", projects=["globex"]).secret)

    lines = body_of(api.post(EXPORT, {"format": "cef"})).decode().splitlines()

    assert len(lines) == 1 and "externalId=vm-1" in lines[0]


def test_a_shared_template_exports_through_the_api(stored, read_api):
    template = ExportTemplate.objects.create(name="ids", source="{{ event.event_id }};{{ event.seq }}",
                                             header="id;seq", extension="csv")

    text = body_of(read_api.post(EXPORT, {"format": "template", "template": template.pk,
                                          "query": "project:globex"})).decode()

    assert text.splitlines()[0] == "id;seq"
    assert text.splitlines()[1].startswith("vm-1;")


def test_someone_elses_template_is_refused_naming_the_template(stored, read_api, people):
    private = ExportTemplate.objects.create(name="mine", source="{{ event.seq }}", owner=people["analyst"])

    response = read_api.post(EXPORT, {"format": "template", "template": private.pk})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "template"


def test_a_template_that_breaks_the_sandbox_ends_the_export_without_leaking(stored, read_api):
    template = ExportTemplate.objects.create(name="evil", source="{{ event.__class__.__mro__ }}")

    response = read_api.post(EXPORT, {"format": "template", "template": template.pk})

    with pytest.raises(Exception, match="template"):
        b"".join(response.streaming_content)


def test_the_openapi_document_lists_every_format(client):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["ExportRequest"]
    assert set(schema["properties"]["format"]["enum"]) == {*FORMATS, "template"}


def test_the_csv_postgresql_writes_matches_the_csv_written_event_by_event(stored, read_api):
    import csv as _csv

    from apps.search.formats.csv import csv_chunks

    served = list(_csv.DictReader(io.StringIO(body_of(read_api.post(EXPORT, {"format": "csv"})).decode())))
    pure = list(_csv.DictReader(io.StringIO("".join(csv_chunks([stored])))))

    assert len(served) == len(pure) == 5
    for a, b in zip(served, pure):
        for name in a:
            if name in ("tags", "changes", "metadata"):
                assert json.loads(a[name] or "null") == json.loads(b[name] or "null"), name
            else:
                assert a[name] == b[name], name


@pytest.mark.parametrize("name", ["parquet", "csv"])
def test_under_asgi_binary_and_copy_exports_stream_through_an_async_iterator(stored, read_token, name):
    from asgiref.sync import async_to_sync
    from django.test import AsyncRequestFactory

    from apps.api import events as api_views

    request = AsyncRequestFactory().post(EXPORT, {"format": name}, content_type="application/json",
                                         headers={"Authorization": f"Bearer {read_token}"})
    response = api_views.audit_log_export(request)
    assert response.is_async

    async def consume():
        return [part async for part in response.streaming_content]

    data = b"".join(async_to_sync(consume)())
    if name == "parquet":
        assert pq.read_table(io.BytesIO(data)).num_rows == 5
    else:
        import csv as _csv

        assert len(list(_csv.DictReader(io.StringIO(data.decode())))) == 5
