"""OpenAPI contracts for routes whose `endpoint(...)` declares only a role.

A route module can always declare its own contract (`endpoint(role=..., query=...,
response=...)`); anything it declares wins over what is written here.
"""

from __future__ import annotations

from shared.openapi import EndpointSpec, describe

describe(
    "openapi_json",
    EndpointSpec(
        role=None,
        summary="This API's OpenAPI 3.1 document",
        response_schema={"type": "object"},
        tags=("docs",),
    ),
)
describe(
    "openapi_docs",
    EndpointSpec(
        role=None,
        summary="A page documenting every route",
        response_media_type="text/html",
        response_schema={"type": "string"},
        tags=("docs",),
    ),
)
describe(
    "feed_page",
    EndpointSpec(
        role=None,
        summary="A demo page showing live trades",
        response_media_type="text/html",
        response_schema={"type": "string"},
        tags=("feed",),
    ),
)
describe(
    "health",
    EndpointSpec(
        role=None,
        summary="Version and storage reachability (503, same body, when a store is down)",
        same_body_statuses=(503,),
    ),
)
