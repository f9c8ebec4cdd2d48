"""The market routes through the FunctionApp: bars in three formats, quotes, health, backfill."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from typing import Any

import azure.functions as func
import pyarrow.parquet as pq
import pytest

from functions import market
from shared.config import get_settings
from shared.ingest.sync import Ingestor
from tests.ingest.conftest import AS_OF
from testsupport.auth import auth_headers


def _functions() -> dict[str, Any]:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(market.bp)
    return {str(f.get_function_name()): f.get_user_function() for f in app.get_functions()}


def call(
    name: str,
    *,
    role: str | None = "viewer",
    params: dict[str, str] | None = None,
    route: dict[str, str] | None = None,
    body: Any = None,
    method: str = "GET",
) -> func.HttpResponse:
    request = func.HttpRequest(
        method,
        "http://127.0.0.1:7071/api/x",
        headers=auth_headers(role) if role else {},
        params=params or {},
        route_params=route or {},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    response: func.HttpResponse = asyncio.run(_functions()[name](request))
    return response


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
    assert response.status_code == 200
    body = json.loads(response.get_body())
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
    rows = list(csv.DictReader(io.StringIO(text.get_body().decode())))
    parquet = call("market_bars", route={"symbol": "AAPL"}, params={**params, "format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.get_body()))
    assert len(rows) == table.num_rows == 20
    assert float(rows[-1]["close"]) == table["close"].to_pylist()[-1]
    assert rows[-1]["ts"].endswith("Z"), "CSV times are written as JSON's are (UTC as Z)"


@pytest.mark.parametrize(
    ("params", "symbol", "status"),
    [
        ({"interval": "2h"}, "AAPL", 422),
        ({"format": "xml"}, "AAPL", 422),
        ({"start": "June"}, "AAPL", 422),
        ({"start": "2024-06-10", "end": "2024-06-01"}, "AAPL", 422),
        ({"end": "9999-12-31"}, "AAPL", 422),
        ({"start": "0001-01-01T00:00:00+05:00"}, "AAPL", 422),
        ({}, "BAD!", 422),
        ({}, "AA\x00PL", 422),
        ({}, "a\u00dfx", 422),
        ({}, "A" * 4000, 422),
        ({}, "NVDA", 404),
    ],
)
def test_bad_bar_requests_are_problems(
    filled: Ingestor, params: dict[str, str], symbol: str, status: int
) -> None:
    response = call("market_bars", route={"symbol": symbol}, params=params)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body())["detail"]


def test_a_range_over_bars_max_rows_is_refused_with_the_range_that_fits(
    filled: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARS_MAX_ROWS", "12")
    get_settings.cache_clear()
    refused = call(
        "market_bars", route={"symbol": "AAPL"}, params={"start": "2024-06-01", "end": "2024-06-28"}
    )
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    problem = json.loads(refused.get_body())
    assert problem["title"] == "Too many bars"
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
    assert json.loads(first.get_body())["count"] == 12
    assert json.loads(rest.get_body())["count"] == 8
    monkeypatch.setenv("BARS_MAX_ROWS", "20")
    get_settings.cache_clear()
    whole = call(
        "market_bars", route={"symbol": "AAPL"}, params={"start": "2024-06-01", "end": "2024-06-28"}
    )
    assert whole.status_code == 200


def test_bars_need_a_token(filled: Ingestor) -> None:
    assert call("market_bars", role=None, route={"symbol": "AAPL"}).status_code == 401


def test_quotes(filled: Ingestor) -> None:
    response = call("market_quotes", params={"symbols": "AAPL,btc-usd,NVDA"})
    body = json.loads(response.get_body())
    assert [q["symbol"] for q in body["quotes"]] == ["AAPL", "BTC-USD"]
    assert body["missing"] == ["NVDA"]
    assert body["quotes"][0]["source"] == "yahoo"
    assert call("market_quotes", params={}).status_code == 422


def test_provider_health(filled: Ingestor) -> None:
    body = json.loads(call("market_provider_health").get_body())
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
    body = json.loads(call("market_provider_health").get_body())
    yahoo = next(p for p in body["providers"] if p["provider"] == "yahoo")
    assert yahoo["status"] == "degraded"
    assert "HTTP 500" in yahoo["lastError"]


def test_backfill_needs_admin(ingestor: Ingestor) -> None:
    body = {"symbols": "AAPL", "start": "2024-01-01", "end": "2024-03-31"}
    assert call("market_backfill", method="POST", body=body).status_code == 403
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status_code == 200, response.get_body()
    report = json.loads(response.get_body())
    assert report["ok"] == 1
    assert report["rowsWritten"] > 50
    bars = json.loads(call("market_bars", route={"symbol": "AAPL"}).get_body())["bars"]
    assert bars[0]["ts"].startswith("2024-01-0")
    assert bars[-1]["ts"] < "2024-04-01"


def test_backfill_clamps_a_future_end_to_today(ingestor: Ingestor) -> None:
    body = {"symbols": "AAPL", "start": "2024-01-01", "end": "9999-12-31"}
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body())["ok"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"symbols": "AAPL", "start": "2024-05-01", "end": "2024-01-01"},
        {"symbols": "", "start": "2024-01-01", "end": "2024-02-01"},
        {"symbols": "AAPL", "start": "2024-01-01", "end": "2024-02-01", "provider": "x"},
        {"symbols": "AAPL", "start": "0001-01-01", "end": "2024-02-01"},
        {"symbols": "AAPL", "start": "9999-01-01", "end": "9999-12-31"},
        {"symbols": "AAPL"},
        {
            "symbols": "^GSPC",
            "start": "2024-01-01",
            "end": "2024-02-01",
            "provider": "alphavantage",
        },
        {"symbols": "AAPL", "start": "2024-01-01", "end": "2024-02-01", "provider": "coingecko"},
        {"symbols": "AA\u0000PL", "start": "2024-01-01", "end": "2024-02-01"},
    ],
)
def test_backfill_bad_input(ingestor: Ingestor, body: dict[str, str]) -> None:
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("provider", "source"), [(None, "alphavantage"), ("yahoo", "yahoo")])
def test_intraday_backfill_then_bars(ingestor: Ingestor, provider: str | None, source: str) -> None:
    symbol = "AAPL"
    body = {"symbols": symbol, "start": "2024-06-27", "end": "2024-06-28", "interval": "15m"}
    body |= {"provider": provider} if provider else {}
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body())["ok"] == 1
    params = {"interval": "15m", "start": "2024-06-27", "end": "2024-06-28"}
    bars = json.loads(call("market_bars", route={"symbol": symbol}, params=params).get_body())
    assert bars["interval"] == "15m"
    assert bars["count"] > 0
    assert {b["source"] for b in bars["bars"]} == {source}
    assert bars["bars"][0]["ts"] >= "2024-06-27T00:00:00+00:00"
    assert bars["bars"][-1]["ts"] < "2024-06-29T00:00:00+00:00"
    daily = call("market_bars", route={"symbol": symbol}, params={"interval": "1d"})
    assert daily.status_code == 404


def test_intraday_backfill_refuses_daily_only_providers(ingestor: Ingestor) -> None:
    body = {"symbols": "BTC-USD", "start": "2024-06-27", "end": "2024-06-28"}
    body |= {"interval": "5m", "provider": "coingecko"}
    response = call("market_backfill", role="admin", method="POST", body=body)
    assert response.status_code == 422
    assert "coingecko" in json.loads(response.get_body())["detail"]
