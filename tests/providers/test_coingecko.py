"""CoinGecko client against the fake server: prices, OHLC days, ping, 429 and its error JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.market.symbols import parse_symbol
from shared.providers.base import ClientHooks
from shared.providers.coingecko import CoinGeckoClient
from shared.providers.errors import (
    AuthRejected,
    BadResponse,
    InvalidSymbol,
    ProviderUnavailable,
    RateLimited,
)
from testsupport.fake_providers import FakeProviders

BTC = parse_symbol("BTC-USD")


def _client(fake: FakeProviders, hooks: ClientHooks) -> CoinGeckoClient:
    return CoinGeckoClient(
        base_url=fake.coingecko_base_url, timeout=2, hooks=hooks, api_key="demo-key"
    )


def test_ping(fake: FakeProviders, hooks: ClientHooks) -> None:
    assert "Moon" in _client(fake, hooks).ping()


def test_simple_price(fake: FakeProviders, hooks: ClientHooks) -> None:
    quotes = _client(fake, hooks).simple_price([BTC, parse_symbol("ETH-USD"), parse_symbol("AAPL")])
    assert sorted(q.symbol for q in quotes) == ["BTC-USD", "ETH-USD"]
    rows = fake.market.daily("BTC-USD")
    btc = next(q for q in quotes if q.symbol == "BTC-USD")
    assert btc.price == round(rows[-1][4])  # CoinGecko sends bitcoin's price as an integer
    change = (rows[-1][4] - rows[-2][4]) / rows[-2][4]
    assert btc.change_percent == pytest.approx(change * 100, rel=1e-9)
    assert btc.change == pytest.approx(btc.price - btc.price / (1 + change), rel=1e-9)
    params = fake.market.requests[-1].params
    assert params["ids"] == "bitcoin,ethereum"
    assert params["include_24hr_change"] == "true"


def test_ohlc_keeps_only_complete_utc_days(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _client(fake, hooks).daily_ohlc(BTC, 30)
    served = {row[0]: row for row in fake.market.daily("BTC-USD")}
    first_served = (fake.market.now - timedelta(days=30)).date()
    assert bars, "expected complete days"
    for bar in bars:
        day = bar.ts.date()
        assert day >= first_served
        assert day in served
        _, o, h, low, c, _ = served[day]
        assert (bar.open, bar.high, bar.low, bar.close) == pytest.approx((o, h, low, c), abs=1e-3)
        assert bar.volume is None
    days = [d for d in served if d >= first_served]
    assert [b.ts.date() for b in bars] == sorted(days)
    assert any(b.ts.weekday() >= 5 for b in bars), "crypto trades on weekends too"


def test_market_chart(fake: FakeProviders, hooks: ClientHooks) -> None:
    """Daily points on the 00:00 UTC grid, then the live point off it (with its own volume,
    sent as an integer)."""
    points = _client(fake, hooks).market_chart(BTC, 30)
    rows = fake.market.daily("BTC-USD")
    grid, live = points[:-1], points[-1]
    assert all((t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0) for t, _, _ in grid)
    assert [p for _, p, _ in grid] == [r[4] for r in rows[-len(grid) :]]
    assert live[0] == fake.market.now - timedelta(minutes=3, seconds=17) + timedelta(
        milliseconds=418
    )
    assert live[1] == rows[-1][4]
    assert live[2] == round(rows[-1][5] * 1.01)


def test_429_with_retry_after_then_success(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("coingecko", "429", retry_after=0.2)
    assert _client(fake, hooks).simple_price([BTC])
    assert [r.status for r in fake.market.requests] == [429, 200]


def test_429_without_retry_after_is_rate_limited(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("coingecko", "429")
    with pytest.raises(RateLimited):
        _client(fake, hooks).simple_price([BTC])


def test_unknown_coin_is_invalid(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("coingecko", "not_found")
    with pytest.raises(InvalidSymbol):
        _client(fake, hooks).daily_ohlc(BTC)
    with pytest.raises(InvalidSymbol):
        _client(fake, hooks).daily_ohlc(parse_symbol("FOO-USD"))


def test_empty_and_malformed(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("coingecko", "empty")
    assert _client(fake, hooks).daily_ohlc(BTC) == []
    fake.market.fail("coingecko", "malformed")
    with pytest.raises(BadResponse):
        _client(fake, hooks).daily_ohlc(BTC)


def test_demo_and_pro_key_headers(fake: FakeProviders, hooks: ClientHooks) -> None:
    _client(fake, hooks).ping()
    assert fake.market.requests[-1].headers.get("x-cg-demo-api-key") == "demo-key"
    pro = CoinGeckoClient(
        base_url=fake.coingecko_base_url, timeout=2, hooks=hooks, api_key="k", key_kind="pro"
    )
    pro.ping()
    assert fake.market.requests[-1].headers.get("x-cg-pro-api-key") == "k"
    assert "x-cg-demo-api-key" not in fake.market.requests[-1].headers


def test_5xx_json_body_is_unavailable_after_retries(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    fake.market.fail("coingecko", "500", times=3)
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        _client(fake, hooks).daily_ohlc(BTC)
    assert [r.status for r in fake.market.requests] == [500, 500, 500]


def test_refused_key_is_auth_rejected_with_its_message(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    fake.market.fail("coingecko", "unauthorized")
    with pytest.raises(AuthRejected, match="API Key Missing"):
        _client(fake, hooks).simple_price([BTC])
    assert fake.market.count("coingecko") == 1


def test_422_names_the_problem(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("coingecko", "422")
    with pytest.raises(InvalidSymbol, match="HTTP 422: invalid vs_currency"):
        _client(fake, hooks).daily_ohlc(BTC)


def test_a_csv_answer_is_refused(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("coingecko", "csv")
    with pytest.raises(BadResponse, match="text/csv, not JSON"):
        _client(fake, hooks).simple_price([BTC])


@pytest.mark.parametrize("call", ["simple_price", "daily_ohlc"])
def test_an_error_object_is_never_data(fake: FakeProviders, hooks: ClientHooks, call: str) -> None:
    """`{"status": {"error_code": 10005, ...}}` even with HTTP 200: an error, not an empty
    price list or a malformed candle list."""
    fake.market.fail("coingecko", "error_200")
    client = _client(fake, hooks)
    with pytest.raises(BadResponse, match="error 10005: You may not have access"):
        client.simple_price([BTC]) if call == "simple_price" else client.daily_ohlc(BTC)
