"""OpenAPI 3.1 from route declarations: each route's role, query, body and response models.

A route declares its whole contract where it is defined (``functions.http.endpoint`` stores
an `EndpointSpec` on the handler). `build_openapi` turns a list of `RouteInfo` (method,
path, spec) into the document; no `azure.functions` import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.api_model import ApiModel

SCHEMA_REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Bad request",
    401: "Missing or invalid bearer token",
    403: "The token's role is too low for this route",
    404: "Not found (or owned by another account)",
    409: "Conflict",
    412: "The If-Match etag is stale",
    422: "Invalid input",
    429: "Too many requests",
    503: "A dependency is unavailable",
}


RETRYABLE = frozenset({429, 503})
RETRY_AFTER = {
    "description": "Seconds to wait before retrying, when known (also the problem's `retryAfter`).",
    "schema": {"type": "integer", "minimum": 0},
}
"""The response header of a problem the caller may retry (`functions.http` sends it for
an error that carries `retry_after`)."""


PATH_PARAMETER = {"type": "string", "pattern": r"^[A-Za-z0-9._~^-]{1,255}$"}
"""Path segments are ids and symbols: URL-unreserved characters (and ^ for indices)."""


@dataclass(frozen=True)
class HeaderParam:
    """A request header the route reads."""

    name: str
    description: str
    required: bool = False


IDEMPOTENCY_KEY = HeaderParam(
    "Idempotency-Key",
    "Any unique string (<=255 chars). Retrying with the same key returns the first result "
    "and never repeats the action.",
)
IF_MATCH = HeaderParam("If-Match", "The resource's ETag; the write fails with 412 if stale.")


@dataclass(frozen=True)
class EndpointSpec:
    """What a route promises: who may call it and the shapes it accepts and returns."""

    role: str | None
    summary: str = ""
    description: str = ""
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None
    headers: tuple[HeaderParam, ...] = ()
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    response_media_type: str = "application/json"
    """The success body's media type; a body that is not JSON (text/html) is a string."""
    other_media_types: tuple[str, ...] = ()
    """Further media types the success response may have (e.g. text/csv), each a string."""
    same_body_statuses: tuple[int, ...] = ()
    """Further statuses answered with the success body, not a problem (health's 503)."""
    body_examples: tuple[tuple[str, dict[str, Any]], ...] = ()
    """Named request bodies that succeed (documentation, and schemathesis' explicit cases)."""
    other_responses: tuple[tuple[int, type[BaseModel]], ...] = ()
    """Further success statuses with a body of their own (a 202 that started a run)."""


@dataclass(frozen=True)
class RouteInfo:
    """One HTTP route of the app."""

    function_name: str
    method: str
    path: str
    spec: EndpointSpec


class Problem(ApiModel):
    """An RFC 7807 problem (`application/problem+json`); extra members may appear."""

    model_config = {"extra": "allow"}

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class OpenApiInfo(ApiModel):
    title: str
    version: str
    description: str = ""


class OpenApiDocument(ApiModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0#openapi-object)."""

    model_config = {"extra": "allow"}

    openapi: Literal["3.1.0"]
    info: OpenApiInfo
    servers: list[dict[str, str]]
    paths: dict[str, dict[str, dict[str, Any]]]
    components: dict[str, dict[str, Any]]


def text_schema(media_type: str) -> dict[str, Any]:
    """The schema of a body that is not JSON: a string of that media type."""
    return {"type": "string", "contentMediaType": media_type}


_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\??)\}")


def openapi_path(route: str) -> tuple[str, list[str]]:
    """`watchlists/{id:guid}` → (`/api/watchlists/{id}`, ["id"]), stripping constraints."""
    names: list[str] = []

    def repl(match: re.Match[str]) -> str:
        names.append(match.group(2))
        return "{" + match.group(2) + "}"

    path = _PARAM.sub(repl, route.strip("/"))
    return "/api/" + path, names


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    for name, prop in properties.items():
        schema_ = {k: v for k, v in prop.items() if k not in ("title", "description")}
        variants = schema_.get("anyOf")
        if isinstance(variants, list) and {"type": "null"} in variants:
            rest = [v for v in variants if v != {"type": "null"}]
            schema_.pop("anyOf")
            if schema_.get("default", 0) is None:
                schema_.pop("default")
            schema_ = {**schema_, **rest[0]} if len(rest) == 1 else {**schema_, "anyOf": rest}
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": schema_,
        }
        if prop.get("description"):
            param["description"] = prop["description"]
        params.append(param)
    return params


def build_openapi(
    routes: list[RouteInfo], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for route in routes:
        spec = route.spec
        if spec.body is not None:
            models.append((spec.body, "validation"))
        if spec.response is not None:
            models.append((spec.response, "serialization"))
    unique = list(dict.fromkeys(models))
    keys, defs = models_json_schema(unique, by_alias=True, ref_template=SCHEMA_REF)
    components: dict[str, Any] = dict(defs.get("$defs", {}))

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(keys[(model, mode)])

    problem = {PROBLEM_JSON: {"schema": ref(Problem, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.method)):
        spec = route.spec
        path, path_names = openapi_path(route.path)
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": dict(PATH_PARAMETER)}
            for name in path_names
        ]
        if spec.query is not None:
            query_schema = spec.query.model_json_schema(by_alias=True, mode="validation")
            parameters.extend(_query_parameters(spec.query, query_schema))
        for header in spec.headers:
            parameters.append(
                {
                    "name": header.name,
                    "in": "header",
                    "required": header.required,
                    "description": header.description,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                }
            )
        success: dict[str, Any] = {"description": STATUS_TEXT.get(spec.status, "Success")}
        if spec.response is not None:
            success["content"] = {
                spec.response_media_type: {"schema": ref(spec.response, "serialization")}
            }
        elif spec.response_media_type != "application/json":
            success["content"] = {
                spec.response_media_type: {"schema": text_schema(spec.response_media_type)}
            }
        for media_type in spec.other_media_types:
            success.setdefault("content", {})[media_type] = {"schema": text_schema(media_type)}
        responses: dict[str, Any] = {str(spec.status): success}
        for status in spec.same_body_statuses:
            responses[str(status)] = {**success, "description": STATUS_TEXT.get(status, "Error")}
        for status, model in spec.other_responses:
            responses[str(status)] = {
                "description": STATUS_TEXT.get(status, "Success"),
                "content": {"application/json": {"schema": ref(model, "serialization")}},
            }
        errors = set(spec.errors)
        if spec.role is not None:
            errors |= {401, 403}
        if spec.body is not None or spec.query is not None:
            errors.add(422)
        if spec.body is not None:
            errors.add(400)
        for status in sorted(errors):
            responses[str(status)] = {
                "description": STATUS_TEXT.get(status, "Error"),
                "content": problem,
            }
            if status in RETRYABLE:
                responses[str(status)]["headers"] = {"Retry-After": dict(RETRY_AFTER)}
        responses["default"] = {"description": "Any other error", "content": problem}
        operation: dict[str, Any] = {
            "operationId": route.function_name,
            "summary": spec.summary or route.function_name.replace("_", " "),
            "tags": list(spec.tags) or [route.path.strip("/").split("/")[0]],
            "responses": responses,
            "security": [{"bearer": []}] if spec.role is not None else [],
            "x-role": spec.role or "public",
        }
        if spec.description:
            operation["description"] = spec.description
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            media: dict[str, Any] = {"schema": ref(spec.body, "validation")}
            if spec.body_examples:
                media["examples"] = {name: {"value": value} for name, value in spec.body_examples}
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An OIDC access token (Entra ID, or the local dev issuer).",
                }
            },
        },
    }
