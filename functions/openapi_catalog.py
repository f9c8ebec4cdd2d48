"""OpenAPI contracts for routes whose `endpoint(...)` declares only a role.

A route module can always declare its own contract (`endpoint(role=..., query=...,
response=...)`); anything it declares wins over what is written here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from functions.http import QueryModel
from functions.market import BackfillRequest
from shared.api_model import ApiModel
from shared.market.models import Interval
from shared.openapi import EndpointSpec, describe


class BarsQuery(QueryModel):
    interval: Interval | None = Field(None, description="Bar interval; default 1d.")
    start: str | None = Field(None, description="ISO date or time (UTC); inclusive.")
    end: str | None = Field(
        None, description="ISO date (that whole day included) or time (UTC; bars before it)."
    )
    format: Literal["json", "csv", "parquet"] | None = Field(None, description="Default json.")


class BarsPage(ApiModel):
    """Bars of one symbol and interval (`format=json`)."""

    model_config = {"extra": "allow"}

    symbol: str
    interval: str
    count: int
    bars: list[dict[str, Any]]


class QuotesQuery(QueryModel):
    symbols: str = Field(description="Comma-separated, e.g. AAPL,BTC-USD (at most 100).")


class QuotesReply(ApiModel):
    """Latest quotes of the symbols asked for, and those with none yet."""

    model_config = {"extra": "allow"}

    quotes: list[dict[str, Any]]
    missing: list[str]


class ProviderHealth(ApiModel):
    """Sync status per market-data provider."""

    model_config = {"extra": "allow"}


class Health(ApiModel):
    """Version and storage reachability."""

    model_config = {"extra": "allow"}


describe(
    "health",
    EndpointSpec(
        role=None,
        summary="Version and storage reachability (503 when a store is down)",
        response=Health,
        errors=(503,),
        tags=("health",),
    ),
)
describe(
    "market_bars",
    EndpointSpec(
        role="viewer",
        summary="Bars of a symbol from the lake (JSON, CSV or Parquet)",
        query=BarsQuery,
        response=BarsPage,
        other_media_types=("text/csv", "application/vnd.apache.parquet"),
        errors=(404,),
        tags=("market data",),
    ),
)
describe(
    "market_quotes",
    EndpointSpec(
        role="viewer",
        summary="Latest quotes of some symbols",
        query=QuotesQuery,
        response=QuotesReply,
        tags=("market data",),
    ),
)
describe(
    "market_backfill",
    EndpointSpec(
        role="admin",
        summary="Backfill daily or intraday bars of some symbols from a provider",
        body=BackfillRequest,
        tags=("market data",),
    ),
)
describe(
    "market_provider_health",
    EndpointSpec(
        role="viewer",
        summary="Sync status of each market-data provider",
        response=ProviderHealth,
        tags=("market data",),
    ),
)
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
