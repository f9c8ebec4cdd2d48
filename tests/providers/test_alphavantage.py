"""Alpha Vantage client against the fake server: data shapes and every 200-with-an-error answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.market.symbols import parse_symbol
from shared.providers.alphavantage import AlphaVantageClient
from shared.providers.base import ClientHooks
from shared.providers.errors import BadResponse, InvalidSymbol, RateLimited
from shared.providers.http import RawResponse
from tests.support.fake_providers import FakeProviders

AAPL = parse_symbol("AAPL")


def _client(fake: FakeProviders, hooks: ClientHooks, **kw: object) -> AlphaVantageClient:
    return AlphaVantageClient(
        keys=kw.pop("keys", ["key-1"]),  # type: ignore[arg-type]
        base_url=fake.alphavantage_base_url,
        timeout=2,
        hooks=hooks,
        **kw,  # type: ignore[arg-type]
    )


def test_daily_compact_matches_the_served_rows(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _client(fake, hooks).daily(AAPL)
    served = fake.market.daily("AAPL")[-100:]
    assert len(bars) == 100
    assert [b.ts.date() for b in bars] == [row[0] for row in served]
    first = bars[0]
    assert first.ts.tzinfo is not None
    assert first.ts.utcoffset() == timedelta(0)
    assert (first.open, first.high, first.low, first.close, first.volume) == pytest.approx(
        served[0][1:]
    )
    assert (first.source, first.adjustment, first.adj_close) == ("alphavantage", "none", None)
    assert fake.market.requests[-1].params["outputsize"] == "compact"


def test_full_output_size(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _client(fake, hooks).daily(AAPL, full=True)
    assert len(bars) == len(fake.market.days())


def test_premium_key_gets_adjusted_close(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _client(fake, hooks, premium=True).daily(AAPL)
    assert bars[-1].adj_close == pytest.approx(bars[-1].close * 0.98, abs=1e-3)
    assert fake.market.requests[-1].params["function"] == "TIME_SERIES_DAILY_ADJUSTED"


def test_premium_refused_falls_back_to_raw(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("alphavantage", "premium")
    client = _client(fake, hooks, premium=True)
    bars = client.daily(AAPL)
    assert bars
    assert bars[-1].adj_close is None
    assert [r.params["function"] for r in fake.market.requests] == [
        "TIME_SERIES_DAILY_ADJUSTED",
        "TIME_SERIES_DAILY",
    ]
    assert client.premium is False


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("note", RateLimited, "5 calls per minute"),
        ("information", RateLimited, "25 requests per day"),
        ("error_message", InvalidSymbol, "Invalid API call"),
        ("malformed", BadResponse, "malformed JSON"),
    ],
)
def test_error_answers_are_never_data(
    fake: FakeProviders,
    hooks: ClientHooks,
    raw: list[RawResponse],
    fault: str,
    error: type[Exception],
    match: str,
) -> None:
    fake.market.fail("alphavantage", fault)
    with pytest.raises(error, match=match):
        _client(fake, hooks).daily(AAPL)
    assert fake.market.count("alphavantage") == 1
    assert raw
    assert raw[-1].status == 200
    assert "apikey" not in raw[-1].params or raw[-1].params["apikey"] == "***"


def test_empty_object_is_no_data(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.fail("alphavantage", "empty")
    assert _client(fake, hooks).daily(AAPL) == []


def test_keys_rotate(fake: FakeProviders, hooks: ClientHooks) -> None:
    client = _client(fake, hooks, keys=["key-a", "key-b"])
    for _ in range(4):
        client.daily(AAPL)
    assert [r.params["apikey"] for r in fake.market.requests] == ["key-a", "key-b"] * 2


def test_crypto_daily(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _client(fake, hooks).daily(parse_symbol("BTC-USD"))
    request = fake.market.requests[-1].params
    assert (request["function"], request["symbol"], request["market"]) == (
        "DIGITAL_CURRENCY_DAILY",
        "BTC",
        "USD",
    )
    assert bars[-1].symbol == "BTC-USD"
    assert bars[-1].close == pytest.approx(fake.market.daily("BTC-USD")[-1][4])


def test_intraday_is_converted_from_us_eastern_to_utc(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    bars = _client(fake, hooks).intraday(AAPL, "5m")
    day = fake.market.last_day
    assert bars[0].ts == datetime(day.year, day.month, day.day, 13, 30, tzinfo=UTC)
    assert {b.interval for b in bars} == {"5m"}
    assert fake.market.requests[-1].params["interval"] == "5min"


def test_global_quote(fake: FakeProviders, hooks: ClientHooks) -> None:
    quote = _client(fake, hooks).global_quote(AAPL)
    rows = fake.market.daily("AAPL")
    assert quote is not None
    assert quote.price == pytest.approx(rows[-1][4])
    assert quote.change == pytest.approx(rows[-1][4] - rows[-2][4], abs=1e-3)
    assert quote.ts.date() == rows[-1][0]


def test_index_is_refused_without_a_call(fake: FakeProviders, hooks: ClientHooks) -> None:
    with pytest.raises(InvalidSymbol):
        _client(fake, hooks).daily(parse_symbol("^GSPC"))
    assert fake.market.count() == 0


def test_full_refused_as_premium_falls_back_to_compact(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    fake.market.fail("alphavantage", "premium")
    bars = _client(fake, hooks).daily(AAPL, full=True)
    assert len(bars) == 100
    assert [r.params["outputsize"] for r in fake.market.requests] == ["full", "compact"]
