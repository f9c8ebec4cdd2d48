"""The OpenAPI document: every route, valid 3.1, models from the route declarations."""

from __future__ import annotations

import function_app  # noqa: F401  (assembles the app the OpenAPI module describes)
from functions.openapi import http_routes
from shared.openapi import openapi_path


async def test_document_lists_every_http_route_with_its_role(call):
    reply = await call("GET", "openapi.json", role=None)
    assert reply.status == 200
    doc = reply.json
    assert doc["openapi"] == "3.1.0"
    for route, _ in http_routes():
        path, _ = openapi_path(route.path)
        operation = doc["paths"][path][route.method.lower()]
        assert operation["x-role"] == (route.spec.role or "public")
        assert operation["operationId"] == route.function_name
        assert "default" in operation["responses"]
        if route.spec.role:
            assert operation["security"] == [{"bearer": []}]
            assert {"401", "403"} <= set(operation["responses"])


async def test_models_and_parameters_come_from_the_declarations(call):
    doc = (await call("GET", "openapi.json", role=None)).json
    create = doc["paths"]["/api/paper/accounts/{accountId}/orders"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderIn"
    }
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Order"
    }
    names = {p["name"] for p in create["parameters"]}
    assert names == {"accountId", "Idempotency-Key"}
    order_in = doc["components"]["schemas"]["OrderIn"]
    assert {"limitPrice", "stopPrice", "timeInForce"} <= set(order_in["properties"])
    listing = doc["paths"]["/api/watchlists"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "continuationToken"}
    page = doc["components"]["schemas"]["Page_Watchlist_"]
    assert set(page["properties"]) == {"items", "continuationToken"}


def test_openapi_path_strips_constraints():
    assert openapi_path("bars/{symbol:alpha}/x/{id?}") == (
        "/api/bars/{symbol}/x/{id}",
        [
            "symbol",
            "id",
        ],
    )


async def test_docs_page_is_html_that_loads_the_document(call):
    reply = await call("GET", "docs", role=None)
    assert reply.status == 200
    assert reply.mimetype == "text/html"
    assert b"/api/openapi.json" in reply.body


async def test_document_is_valid_openapi_3_1(call):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    doc = (await call("GET", "openapi.json", role=None)).json
    validate(doc, cls=OpenAPIV31SpecValidator)


async def test_every_paged_list_takes_limit_and_continuation_token(call):
    doc = (await call("GET", "openapi.json", role=None)).json
    paged = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            success = next(iter(operation["responses"].values()))
            ref = success.get("content", {}).get("application/json", {}).get("schema", {})
            if ref.get("$ref", "").startswith("#/components/schemas/Page_"):
                paged += 1
                names = {p["name"] for p in operation.get("parameters", [])}
                assert {"limit", "continuationToken"} <= names, f"{method} {path}"
    assert paged >= 6


async def test_retryable_problems_declare_retry_after(call):
    doc = (await call("GET", "openapi.json", role=None)).json
    results = doc["paths"]["/api/backtests/{run_id}/results"]["get"]["responses"]["503"]
    assert results["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
    assert results["content"]["application/problem+json"]
    listing = doc["paths"]["/api/watchlists"]["get"]["responses"]
    assert "headers" not in listing["401"]
