"""Through the local host: fire the timers, then read bars, quotes and provider health over HTTP."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from tests.ingest.conftest import fast_env
from testsupport.auth import auth_headers
from testsupport.fake_providers import FakeProviders
from testsupport.host import RunningHost, start_host

pytestmark = [pytest.mark.e2e]


def _fire(client: httpx.Client, host: RunningHost, name: str, count: int) -> None:
    assert client.post(f"/admin/functions/{name}").status_code == 202
    lines = host.wait_for_log(rf"invocation function={name} .*outcome=", timeout=60, count=count)
    assert "outcome=ok" in lines[-1], host.logs


def test_timers_then_api(fake: FakeProviders, isolated_settings: object) -> None:
    fake.market.last_day = date.today() - timedelta(days=1)
    fake.market.first_day = fake.market.last_day - timedelta(days=200)
    start = (fake.market.last_day - timedelta(days=30)).isoformat()
    window = {"start": start, "end": fake.market.last_day.isoformat()}
    env = {**fast_env(fake), "HTTP_TIMEOUT_SECONDS": "5", "SAMPLE_DATA_ENABLED": "false"}
    env["LOCAL_DATA_DIR"] = str(isolated_settings)
    with start_host(env=env) as host, httpx.Client(base_url=host.base_url, timeout=30) as client:
        _fire(client, host, "ingest_alphavantage", 1)
        _fire(client, host, "ingest_yahoo", 1)
        _fire(client, host, "ingest_coingecko", 1)
        _fire(client, host, "coingecko_ping", 1)
        headers = auth_headers("viewer")

        bars = client.get("/api/bars/MSFT", params=window, headers=headers)
        assert bars.status_code == 200, bars.text
        body = bars.json()
        served = [r for r in fake.market.daily("MSFT") if r[0].isoformat() >= start]
        assert body["count"] == len(served)
        assert body["bars"][-1]["close"] == pytest.approx(served[-1][4])
        assert body["bars"][-1]["source"] == "alphavantage"

        btc = client.get("/api/bars/BTC-USD", headers=headers).json()
        assert btc["count"] > 0

        quotes = client.get("/api/quotes", params={"symbols": "AAPL,BTC-USD"}, headers=headers)
        assert {q["symbol"] for q in quotes.json()["quotes"]} == {"AAPL", "BTC-USD"}

        health = client.get("/api/health/providers", headers=headers).json()
        status = {p["provider"]: p["status"] for p in health["providers"]}
        assert status["alphavantage"] == status["yahoo"] == status["coingecko"] == "ok"

        _fire(client, host, "ingest_alphavantage", 2)
        again = client.get("/api/bars/MSFT", params=window, headers=headers)
        assert again.json() == body
        assert client.get("/api/bars/MSFT", headers={}).status_code == 401
        assert "key-1" not in host.logs
