"""Market data API: bars from the lake, latest quotes, provider health, admin backfill."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any, Literal

import azure.functions as func
from pydantic import Field

from functions.http import QueryModel, audit_change, endpoint, json_response, parse_body
from shared import offload
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.config import Settings, get_settings
from shared.errors import InvalidInput, NotFound
from shared.ingest.bars import BarLake
from shared.ingest.health import provider_health
from shared.ingest.query import parse_bar_query, stored_bars_body, utc_z
from shared.ingest.state import QuoteBook, SyncStates, quote_body
from shared.ingest.sync import backfill_report, backfill_request_symbols, backfill_window
from shared.market.models import INGEST_PROVIDERS, Interval
from shared.market.symbols import parse_symbol, parse_symbols
from shared.storage.factory import document_store, lake
from shared.watchlists import select_watched

bp = func.Blueprint()
MAX_QUOTES = 100
MAX_BACKFILL_SYMBOLS = 25
TAGS = ("market data",)


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


class WatchedSymbols(ApiModel):
    """Which watched symbols the ingestion timers serve (INGEST_MAX_SYMBOLS, chosen fairly
    across accounts) and which they leave out."""

    capacity: int | None
    wanted: int
    selected: int
    left_out_count: int
    left_out: list[str] = Field(description="The first 50 symbols left out, in priority order.")
    accounts_watching: int
    invalid_entries: int


class ProviderHealth(ApiModel):
    """Sync status per market-data provider."""

    model_config = {"extra": "allow"}

    watched: WatchedSymbols | None = None


@bp.function_name("market_bars")
@bp.route(route="bars/{symbol}", methods=["GET"])
@endpoint(
    role="viewer",
    summary="Bars of a symbol from the lake (JSON, CSV or Parquet)",
    description=(
        "At most BARS_MAX_ROWS bars (default 100000) per response: a range that matches "
        "more is refused with 422 problem+json (title 'Too many bars') whose detail gives "
        "the start/end holding the first BARS_MAX_ROWS bars and where to continue."
    ),
    query=BarsQuery,
    response=BarsPage,
    other_media_types=("text/csv", "application/vnd.apache.parquet"),
    errors=(404, 422),
    tags=TAGS,
)
async def bars(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    symbol = parse_symbol(req.route_params.get("symbol", ""))
    interval, start, end, fmt = parse_bar_query(
        req.params.get("interval"),
        req.params.get("start"),
        req.params.get("end"),
        req.params.get("format"),
    )
    settings = get_settings()
    # read and encoded in the request worker process: ~100s of ms of Python (issue 12)
    count, body = await offload.run_cpu(
        stored_bars_body, symbol.text, interval, start, end, fmt, settings.bars_max_rows
    )
    store = BarLake(lake(settings))
    if count == 0 and await asyncio.to_thread(store.last_ts, symbol.text, interval) is None:
        raise NotFound(_no_bars(settings, symbol.text, interval))
    name = f"{symbol.text}_{interval}"
    if fmt == "csv":
        return func.HttpResponse(
            body,
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "parquet":
        return func.HttpResponse(
            body,
            mimetype="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
        )
    return func.HttpResponse(body, mimetype="application/json")


def _no_bars(settings: Settings, symbol: str, interval: str) -> str:
    """The 404 detail: offline (the sample provider on), which bundled series exist; else how
    to backfill."""
    if settings.sample_data_enabled and not settings.alphavantage_api_keys:
        from shared.providers.sample import DATASETS

        bundled = ", ".join(dataset.symbol for dataset in DATASETS)
        return (
            f"no {interval} bars stored for {symbol}: the bundled offline data has daily bars "
            f"of {bundled} only. With network access, `python -m tools.backfill --symbols "
            f"{symbol} --interval {interval}` loads it from a provider"
        )
    return (
        f"no {interval} bars stored for {symbol}; backfill them with "
        f"`python -m tools.backfill --symbols {symbol} --interval {interval}` "
        "or POST /api/ops/backfill"
    )


@bp.function_name("market_quotes")
@bp.route(route="quotes", methods=["GET"])
@endpoint(
    role="viewer",
    summary="Latest quotes of some symbols",
    query=QuotesQuery,
    response=QuotesReply,
    tags=TAGS,
)
async def quotes(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    text = req.params.get("symbols", "")
    symbols = parse_symbols(text)
    if not symbols:
        raise InvalidInput("give symbols, e.g. ?symbols=AAPL,BTC-USD")
    if len(symbols) > MAX_QUOTES:
        raise InvalidInput(f"at most {MAX_QUOTES} symbols per request; got {len(symbols)}")
    book = QuoteBook(document_store(get_settings()))
    stored = await asyncio.to_thread(book.many, [s.text for s in symbols])
    found = {quote.symbol: utc_z(quote_body(quote)) for quote in stored}
    return json_response(
        {
            "quotes": [found[s.text] for s in symbols if s.text in found],
            "missing": [s.text for s in symbols if s.text not in found],
        }
    )


@bp.function_name("market_provider_health")
@bp.route(route="health/providers", methods=["GET"])
@endpoint(
    role="viewer",
    summary="Sync status of each market-data provider",
    response=ProviderHealth,
    tags=TAGS,
)
async def providers(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    settings = get_settings()
    documents = document_store(settings)
    states = await asyncio.to_thread(SyncStates(documents).all)
    body = provider_health(settings, states, datetime.now(UTC))
    selection = await asyncio.to_thread(
        select_watched, documents, settings.default_symbols, settings.ingest_max_symbols
    )
    body["watched"] = selection.as_dict()
    return json_response(body, headers={"Cache-Control": "no-store"})


class BackfillRequest(ApiModel):
    symbols: list[str] | str
    start: date
    end: date
    interval: Interval = Field("1d", description="1d, or an intraday interval (1m ... 60m)")
    provider: str | None = Field(None, description=" | ".join(INGEST_PROVIDERS))


@bp.function_name("market_backfill")
@bp.route(route="ops/backfill", methods=["POST"])
@endpoint(
    role="admin",
    summary="Backfill daily or intraday bars of some symbols from a provider",
    body=BackfillRequest,
    tags=TAGS,
)
async def backfill(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    body = parse_body(req, BackfillRequest)
    symbols = backfill_request_symbols(body.symbols, MAX_BACKFILL_SYMBOLS)
    start, end = backfill_window(body.start, body.end)
    if body.provider is not None and body.provider not in INGEST_PROVIDERS:
        raise InvalidInput(
            f"provider {body.provider!r} is not one of {', '.join(INGEST_PROVIDERS)}"
        )
    asked = {
        "symbols": [s.text for s in symbols],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "interval": body.interval,
        "provider": body.provider,
    }
    try:
        # in the request worker process: years of bars are CPU work (issue 12)
        result = await offload.run_cpu(
            backfill_report, symbols, start, end, body.interval, body.provider
        )
    except Exception as error:
        failed = {**asked, "error": type(error).__name__}
        await asyncio.to_thread(_audit_backfill, caller, "failed", failed)
        raise
    done = {**asked, **{k: result.get(k) for k in ("ok", "failed", "deferred", "rowsWritten")}}
    await asyncio.to_thread(_audit_backfill, caller, "ok", done)
    return json_response(result)


def _audit_backfill(caller: Caller, outcome: str, detail: dict[str, Any]) -> None:
    audit_change(
        caller,
        "ops.backfill",
        kind="ops",
        account="",
        target="ops/backfill",
        detail=detail,
        outcome=outcome,
    )
