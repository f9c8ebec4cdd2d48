"""The market routes through the FunctionApp: bars in three formats, quotes, health, backfill."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any

import pyarrow.parquet as pq
import pytest

from shared.config import get_settings
from shared.ingest.sync import Ingestor
from tests.ingest.conftest import AS_OF
from testsupport.routes import Reply, call_route

ROUTES = {
    "market_bars": ("GET", "bars/{symbol}"),
    "market_quotes": ("GET", "quotes"),
    "market_provider_health": ("GET", "health/providers"),
    "market_backfill": ("POST", "ops/backfill"),
}


def call(
    name: str,
    *,
    role: str | None = "viewer",
    params: dict[str, str] | None = None,
    route: dict[str, str] | None = None,
    body: Any = None,
    method: str | None = None,
) -> Reply:
    """The market route `name` called through `testsupport.routes` (as a viewer unless told)."""
    verb, template = ROUTES[name]
    return asyncio.run(
        call_route(method or verb, template, params=route, query=params, role=role, body=body)
    )


@pytest.fixture
def filled(ingestor: Ingestor) -> Ingestor:
    ingestor.sync_yahoo(AS_OF)
    return ingestor


def test_bars_json(filled: Ingestor) -> None:
    response = call(
        "market_bars",
        route={"symbol": "aapl"},
        params={"start": "2024-06-01", "end": "2024-06-28"},
    )
    assert response.status == 200
    body = response.json
    assert body["symbol"] == "AAPL"
    assert body["count"] == 20
    first = body["bars"][0]
    assert first["ts"] == "2024-06-03T00:00:00Z"
    assert {
        "open",
        "high",
        "low",
        "close",
        "volume",
        "adjClose",
        "source",
        "adjustment",
        "ingestedAt",
    } <= set(first)


def test_bars_csv_and_parquet_agree(filled: Ingestor) -> None:
    params = {"start": "2024-06-01", "end": "2024-06-28"}
    text = call("market_bars", route={"symbol": "AAPL"}, params={**params, "format": "csv"})
    assert text.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text.body.decode())))
    parquet = call("market_bars", route={"symbol": "AAPL"}, params={**params, "format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.body))
    assert len(rows) == table.num_rows == 20
    assert float(rows[-1]["close"]) == table["close"].to_pylist()[-1]
    assert rows[-1]["ts"].endswith("Z"), "CSV times are written as JSON's are (UTC as Z)"


INVALID = "Invalid input"


@pytest.mark.parametrize(
    ("params", "symbol", "status", "title", "names"),
    [
        ({"interval": "2h"}, "AAPL", 422, INVALID, "interval '2h' is not one of"),
        ({"format": "xml"}, "AAPL", 422, INVALID, "format 'xml' is not one of"),
        ({"start": "June"}, "AAPL", 422, INVALID, "start 'June' is not a date"),
        ({"start": "2024-06-10", "end": "2024-06-01"}, "AAPL", 422, INVALID, "must be before"),
        ({"end": "9999-12-31"}, "AAPL", 422, INVALID, "end '9999-12-31' is out of range"),
        ({"start": "0001-01-01T00:00:00+05:00"}, "AAPL", 422, INVALID, "+05:00' is out of range"),
        ({}, "BAD!", 422, INVALID, "unknown symbol 'BAD!': '!' is not allowed"),
        ({}, "AA\x00PL", 422, INVALID, "control character (U+0000) at position 2"),
        ({}, "a\u00dfx", 422, INVALID, "non-ASCII character (U+00DF) at position 1"),
        ({}, "A" * 4000, 422, INVALID, "symbol longer than 32 characters"),
        ({}, "NVDA", 404, "Not found", "no 1d bars stored for NVDA"),
    ],
)  # fmt: skip
def test_bad_bar_requests_are_problems(
    filled: Ingestor, params: dict[str, str], symbol: str, status: int, title: str, names: str
) -> None:
    """Each bad request is its own problem: the title and detail name which one."""
    response = call("market_bars", route={"symbol": symbol}, params=params)
    assert response.status == status
    assert response.problem == ("about:blank", title)
    assert names in response.json["detail"]


def test_a_range_over_bars_max_rows_is_refused_with_the_range_that_fits(
    filled: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARS_MAX_ROWS", "12")
    get_settings.cache_clear()
    refused = call(
        "market_bars", route={"symbol": "AAPL"}, params={"start": "2024-06-01", "end": "2024-06-28"}
    )
    assert refused.status == 422
    assert refused.problem == ("about:blank", "Too many bars")
    problem = refused.json
    assert "BARS_MAX_ROWS" in problem["detail"]
    hint = re.search(r"start=(\S+)&end=(\S+) \(end exclusive\)", problem["detail"])
    assert hint is not None
    first = call(
        "market_bars",
        route={"symbol": "AAPL"},
        params=dict(zip(("start", "end"), hint.groups(), strict=True)),
    )
    rest = call(
        "market_bars", route={"symbol": "AAPL"}, params={"start": hint[2], "end": "2024-06-28"}
    )
    assert first.json["count"] == 12
    assert rest.json["count"] == 8
    monkeypatch.setenv("BARS_MAX_ROWS", "20")
    get_settings.cache_clear()
    whole = call(
        "market_bars", route={"symbol": "AAPL"}, params={"start": "2024-06-01", "end": "2024-06-28"}
    )
    assert whole.status == 200


def test_bars_need_a_token(filled: Ingestor) -> None:
    anonymous = call("market_bars", role=None, route={"symbol": "AAPL"})
    assert anonymous.status == 401
    assert anonymous.problem == ("about:blank", "Unauthorized")


def test_quotes(filled: Ingestor) -> None:
    response = call("market_quotes", params={"symbols": "AAPL,btc-usd,NVDA"})
    body = response.json
    assert [q["symbol"] for q in body["quotes"]] == ["AAPL", "BTC-USD"]
    assert body["missing"] == ["NVDA"]
    assert body["quotes"][0]["source"] == "yahoo"
    missing = call("market_quotes", params={})
    assert missing.status == 422
    assert missing.problem == ("about:blank", INVALID)
    assert "symbols" in missing.json["detail"]


def test_provider_health(filled: Ingestor) -> None:
    body = call("market_provider_health").json
    providers = {p["provider"]: p for p in body["providers"]}
    yahoo = providers["yahoo"]
    assert yahoo["status"] == "ok"
    assert yahoo["lastSuccess"] == AS_OF.isoformat()
    assert {s["symbol"] for s in yahoo["symbols"]} >= {"AAPL", "MSFT"}
    assert yahoo["symbols"][0]["secondsSinceLastBar"] > 0
    assert providers["alphavantage"]["status"] == "unknown"


def test_provider_health_degraded(filled: Ingestor, fake: Any) -> None:
    fake.market.fail("yahoo", "500", symbol="MSFT", times=3)
    filled.sync_yahoo(AS_OF.replace(hour=3))
    body = call("market_provider_health").json
    yahoo = next(p for p in body["providers"] if p["provider"] == "yahoo")
    assert yahoo["status"] == "degraded"
    assert "HTTP 500" in yahoo["lastError"]


def test_backfill_needs_admin(ingestor: Ingestor) -> None:
    body = {"symbols": "AAPL", "start": "2024-01-01", "end": "2024-03-31"}
    trader = call("market_backfill", method="POST", body=body)
    assert trader.status == 403
    assert trader.problem == ("about:blank", "Forbidden")
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status == 200, response.body
    report = response.json
    assert report["ok"] == 1
    assert report["rowsWritten"] > 50
    bars = call("market_bars", route={"symbol": "AAPL"}).json["bars"]
    assert bars[0]["ts"].startswith("2024-01-0")
    assert bars[-1]["ts"] < "2024-04-01"


def test_backfill_clamps_a_future_end_to_today(ingestor: Ingestor) -> None:
    body = {"symbols": "AAPL", "start": "2024-01-01", "end": "9999-12-31"}
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status == 200, response.body
    assert response.json["ok"] == 1


NOT_SERVED = "Symbol not served by this provider"
RANGE = {"start": "2024-01-01", "end": "2024-02-01"}
LATE = {"start": "2024-05-01", "end": "2024-01-01"}
FUTURE = {"start": "9999-01-01", "end": "9999-12-31"}


@pytest.mark.parametrize(
    ("body", "title", "names"),
    [
        ({"symbols": "AAPL", **LATE}, INVALID, "start 2024-05-01 must not be after end 2024-01-01"),
        ({"symbols": "", **RANGE}, INVALID, "give at least one symbol"),
        ({"symbols": "AAPL", **RANGE, "provider": "x"}, INVALID, "provider 'x' is not one of"),
        ({"symbols": "AAPL", **RANGE, "start": "0001-01-01"}, INVALID, "is before 1900-01-01"),
        ({"symbols": "AAPL", **FUTURE}, INVALID, "start 9999-01-01 must not be after end"),
        ({"symbols": "AAPL"}, INVALID, "start: Field required; end: Field required"),
        ({"symbols": "^GSPC", **RANGE, "provider": "alphavantage"}, NOT_SERVED, "^GSPC (index)"),
        ({"symbols": "AAPL", **RANGE, "provider": "coingecko"}, NOT_SERVED, "AAPL (equity)"),
        ({"symbols": "AA\u0000PL", **RANGE}, INVALID, "control character (U+0000) at position 2"),
    ],
)  # fmt: skip
def test_backfill_bad_input(
    ingestor: Ingestor, body: dict[str, str], title: str, names: str
) -> None:
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status == 422
    assert response.problem == ("about:blank", title)
    assert names in response.json["detail"]


@pytest.mark.parametrize(("provider", "source"), [(None, "alphavantage"), ("yahoo", "yahoo")])
def test_intraday_backfill_then_bars(ingestor: Ingestor, provider: str | None, source: str) -> None:
    symbol = "AAPL"
    body = {"symbols": symbol, "start": "2024-06-27", "end": "2024-06-28", "interval": "15m"}
    body |= {"provider": provider} if provider else {}
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status == 200, response.body
    assert response.json["ok"] == 1
    params = {"interval": "15m", "start": "2024-06-27", "end": "2024-06-28"}
    bars = call("market_bars", route={"symbol": symbol}, params=params).json
    assert bars["interval"] == "15m"
    assert bars["count"] > 0
    assert {b["source"] for b in bars["bars"]} == {source}
    assert bars["bars"][0]["ts"] >= "2024-06-27T00:00:00+00:00"
    assert bars["bars"][-1]["ts"] < "2024-06-29T00:00:00+00:00"
    daily = call("market_bars", route={"symbol": symbol}, params={"interval": "1d"})
    assert daily.status == 404


def test_intraday_backfill_refuses_daily_only_providers(ingestor: Ingestor) -> None:
    body = {"symbols": "BTC-USD", "start": "2024-06-27", "end": "2024-06-28"}
    body |= {"interval": "5m", "provider": "coingecko"}
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status == 422
    assert "coingecko" in response.json["detail"]
