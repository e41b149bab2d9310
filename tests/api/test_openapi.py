"""GET /api/v1/openapi.json: public, OpenAPI 3.1, and covering every route under /api/v1/."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.api.openapi import openapi_document

DOC = "/api/v1/openapi.json"


def _routes(patterns=None, prefix: str = ""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _as_openapi(route: str) -> str:
    """`api/v1/audit-logs/<path:event_id>` → `/api/v1/audit-logs/{event_id}`."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.lstrip("^").rstrip("$"))


def test_the_document_covers_every_route_under_api_v1():
    routes = {_as_openapi(route) for route in _routes() if route.startswith("api/v1/")}
    documented = set(openapi_document()["paths"])

    assert routes, "no /api/v1/ routes found"
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented paths that no route serves"


@pytest.mark.django_db
def test_the_document_is_served_without_a_token():
    response = Client().get(DOC)

    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0"
    assert body["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": body["components"]["securitySchemes"]["bearer"]["description"],
    }


def test_every_reference_points_at_a_defined_schema():
    document = openapi_document()
    schemas = document["components"]["schemas"]
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in schemas)


def test_every_operation_documents_its_responses_and_the_list_its_parameters():
    document = openapi_document()
    operation_ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method in ("get", "post"), (path, method)
            assert operation["responses"], path
            operation_ids.append(operation["operationId"])
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
    assert len(operation_ids) == len(set(operation_ids))
    listed = {p["name"] for p in document["paths"]["/api/v1/audit-logs"]["get"]["parameters"]}
    assert {"actor", "user_id", "action", "event_type", "resource_type", "resource_id", "outcome", "status",
            "severity", "ip", "project", "trace_id", "start_date", "end_date", "q", "limit", "cursor",
            "offset"} <= listed
    search = document["components"]["schemas"]["SearchRequest"]["properties"]
    assert {"query", "start_time", "end_time", "filters", "sort", "limit", "page", "cursor"} <= set(search)


def test_the_documented_search_filters_are_the_ones_the_api_takes():
    from apps.search import bodies as search

    documented = set(openapi_document()["components"]["schemas"]["SearchFilters"]["properties"])
    assert documented == search._FILTER_KEYS
    actors = openapi_document()["components"]["schemas"]["SearchFilters"]["properties"]["actors"]["properties"]
    assert set(actors) == set(search._ACTOR_FIELDS)
