"""GET /api/openapi.json (OpenAPI 3.1 of every HTTP route) and GET /api/docs (a docs page)."""

from __future__ import annotations

import dataclasses
import importlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import azure.functions as func

import functions.openapi_catalog  # noqa: F401  (describes routes declared elsewhere)
from functions.http import endpoint, endpoint_spec, json_response
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.openapi import EndpointSpec, RouteInfo, build_openapi, described

bp = func.Blueprint()

DESCRIPTION = (
    "The tradingJournal Functions HTTP API. Send `Authorization: Bearer <token>` (an OIDC "
    "access token; locally `make token ROLE=trader ACCOUNT=alice`). Roles: viewer reads, "
    "trader writes its own resources, admin sees every account. Errors are RFC 7807 "
    "problem+json; lists take `limit` and `continuationToken`; JSON is camelCase; times are "
    "ISO 8601 UTC; every response carries X-Request-Id."
)


def app_functions(app: func.FunctionApp) -> list[Any]:
    """`app.get_functions()`, callable more than once (it refuses names it has seen)."""
    seen = app.functions_bindings
    app.functions_bindings = None
    try:
        return list(app.get_functions())
    finally:
        app.functions_bindings = seen


def _merge(declared: EndpointSpec, described_: EndpointSpec) -> EndpointSpec:
    """What the route's own `endpoint` declares wins; `describe` fills in the rest. The
    role always comes from `endpoint`, which enforces it."""
    defaults = EndpointSpec(role=None)
    values = {}
    for field in dataclasses.fields(EndpointSpec):
        own = getattr(declared, field.name)
        values[field.name] = (
            own if own != getattr(defaults, field.name) else getattr(described_, field.name)
        )
    values["role"] = declared.role
    return EndpointSpec(**values)


def http_routes(app: func.FunctionApp | None = None) -> list[tuple[RouteInfo, bool]]:
    """Every (function, method) HTTP route of the app with its contract, and whether the
    contract came from the route's `endpoint` (False: no `endpoint` wrapper found)."""
    if app is None:
        app = importlib.import_module("function_app").app
    routes: list[tuple[RouteInfo, bool]] = []
    for function in app_functions(app):
        trigger = function.get_trigger()
        if trigger is None or trigger.type != "httpTrigger":
            continue
        name = str(function.get_function_name())
        declared = endpoint_spec(function.get_user_function())
        spec = declared or EndpointSpec(role=None, summary=name)
        extra = described(name)
        if extra is not None:
            spec = _merge(spec, extra)
        route = str(getattr(trigger, "route", None) or name)
        methods = getattr(trigger, "methods", None) or ["GET", "POST"]
        for method in methods:
            text = str(getattr(method, "value", method)).upper()
            routes.append((RouteInfo(name, text, route, spec), declared is not None))
    return routes


@lru_cache(maxsize=4)
def _document(version: str) -> dict[str, Any]:
    return build_openapi(
        [route for route, _ in http_routes()],
        title="tradingJournal Functions API",
        version=version,
        description=DESCRIPTION,
    )


def openapi_document() -> dict[str, Any]:
    return _document(get_settings().app_version)


@bp.function_name("openapi_json")
@bp.route(route="openapi.json", methods=["GET"])
@endpoint(role=None, summary="This API's OpenAPI 3.1 document", tags=("docs",))
async def openapi_json(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return json_response(openapi_document(), headers={"Cache-Control": "public, max-age=300"})


DOCS_PAGE = (Path(__file__).parent / "openapi_docs.html").read_text(encoding="utf-8")


@bp.function_name("openapi_docs")
@bp.route(route="docs", methods=["GET"])
@endpoint(role=None, summary="A page documenting every route", tags=("docs",))
async def openapi_docs(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return func.HttpResponse(DOCS_PAGE, status_code=200, mimetype="text/html", charset="utf-8")
