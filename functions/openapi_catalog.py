"""OpenAPI contracts for routes whose `endpoint(...)` declares only a role.

A route module can always declare its own contract (`endpoint(role=..., query=...,
response=...)`); anything it declares wins over what is written here.
"""

from __future__ import annotations

from shared.openapi import EndpointSpec, describe

SMA_CROSS = {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [20, 40]}}

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
describe(
    "market_backfill",
    EndpointSpec(
        role="admin",
        body_examples=(
            (
                "sample",
                {
                    "symbols": "GOOG",
                    "start": "2005-01-01",
                    "end": "2005-03-31",
                    "provider": "sample",
                },
            ),
        ),
    ),
)
describe(
    "backtests_start",
    EndpointSpec(
        role="trader",
        body_examples=(
            ("sweep", {"symbols": ["GOOG"], "start": "2005-01-01", "strategy": SMA_CROSS}),
        ),
    ),
)
describe(
    "strategies_create",
    EndpointSpec(
        role="trader", body_examples=(("smaCross", {"name": "cross", "spec": SMA_CROSS}),)
    ),
)
describe(
    "paper_accounts_create",
    EndpointSpec(role="trader", body_examples=(("account", {"name": "t", "startingCash": 1000}),)),
)
describe(
    "watchlists_create",
    EndpointSpec(role="trader", body_examples=(("tech", {"name": "tech", "symbols": ["AAPL"]}),)),
)
