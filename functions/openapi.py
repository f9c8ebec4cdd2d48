"""GET /api/openapi.json (OpenAPI 3.1 of every HTTP route), GET /api/docs (a docs page), and
the fallback that answers every other /api path with problem+json (404, or 405 with Allow)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import azure.functions as func

from functions.app import FunctionApp
from functions.http import Routes, endpoint_spec, json_response, problem
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.openapi import (
    EndpointSpec,
    OpenApiDocument,
    RouteInfo,
    build_openapi,
    openapi_path,
)

bp = func.Blueprint()
route = Routes(bp)

DESCRIPTION = (
    "The tradingJournal Functions HTTP API. Send `Authorization: Bearer <token>` (an OIDC "
    "access token; locally `make token ROLE=trader ACCOUNT=alice`). Roles: viewer reads, "
    "trader writes its own resources, admin sees every account. Errors are RFC 7807 "
    "problem+json; lists take `limit` and `continuationToken`; JSON is camelCase; times are "
    "ISO 8601 UTC; every response carries X-Request-Id."
)


_served: list[FunctionApp] = []


def serve(app: FunctionApp) -> None:
    """Describe `app`'s routes: `function_app.py` calls this once it has registered every
    blueprint, so the document, the docs page and the fallback see exactly that app."""
    _served[:] = [app]
    _document.cache_clear()
    _route_patterns.cache_clear()


def served_app() -> FunctionApp:
    if not _served:
        raise RuntimeError("no app to describe: function_app.py calls functions.openapi.serve")
    return _served[0]


def http_routes(app: FunctionApp | None = None) -> list[tuple[RouteInfo, bool]]:
    """Every (function, method) HTTP route of the app (default: the one `serve` was given)
    with its contract, and whether the contract came from the route's `endpoint` (False: no
    `endpoint` wrapper found)."""
    routes: list[tuple[RouteInfo, bool]] = []
    for function in (app or served_app()).get_functions():
        trigger = function.get_trigger()
        if trigger is None or trigger.type != "httpTrigger":
            continue
        name = str(function.get_function_name())
        if name == FALLBACK:
            continue  # not an operation: what every unknown path and method gets
        declared = endpoint_spec(function.get_user_function())
        spec = declared or EndpointSpec(role=None, summary=name)
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


@route(
    "GET",
    "openapi.json",
    role=None,
    summary="This API's OpenAPI 3.1 document",
    response=OpenApiDocument,
    tags=("docs",),
)
async def openapi_json(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return json_response(openapi_document(), headers={"Cache-Control": "public, max-age=300"})


DOCS_PAGE = (Path(__file__).parent / "openapi_docs.html").read_text(encoding="utf-8")


@route(
    "GET",
    "docs",
    role=None,
    summary="A page documenting every route",
    media_type="text/html",
    tags=("docs",),
)
async def openapi_docs(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return func.HttpResponse(DOCS_PAGE, status_code=200, mimetype="text/html", charset="utf-8")


FALLBACK = "api_fallback"
_PARAMETER = re.compile(r"\{(\*?)[A-Za-z_][A-Za-z0-9_]*\}")


def _segment_pattern(segment: str) -> str:
    found = _PARAMETER.fullmatch(segment)
    if found is None:
        return re.escape(segment)
    return ".*" if found.group(1) else "[^/]+"


@lru_cache(maxsize=1)
def _route_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(path pattern, method) of every documented operation, constraints left out."""
    patterns = []
    for route, _ in http_routes():
        path, _names = openapi_path(route.path)  # drops the constraints: {id:int} -> {id}
        segments = path.strip("/").split("/")
        regex = "/".join(_segment_pattern(segment) for segment in segments)
        patterns.append((re.compile(regex), route.method))
    return tuple(patterns)


@bp.function_name(FALLBACK)
@bp.route(route="{*path}", methods=list(func.HttpMethod), auth_level=func.AuthLevel.ANONYMOUS)
async def api_fallback(req: func.HttpRequest) -> func.HttpResponse:
    """Routes with literal segments take precedence over a catch-all, in Azure's host as in
    the local one, so this runs only for a path no route serves (404) or a method the path's
    routes do not take (405 with Allow): problem+json, like every other error of the API."""
    path = "api/" + (req.route_params.get("path") or "").strip("/")
    allowed = sorted({method for pattern, method in _route_patterns() if pattern.fullmatch(path)})
    if allowed:
        response = problem(
            405,
            "Method not allowed",
            f"method {req.method} not allowed on /{path}; use {', '.join(allowed)}",
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return problem(404, "Not found", f"no route serves /{path}")
