"""Alpha Vantage client against the fake server: data shapes and every 200-with-an-error answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.market.symbols import parse_symbol
from shared.providers.alphavantage import (
    AlphaVantageClient,
    InvalidCall,
    PremiumRequired,
    classify_message,
    parse_daily,
)
from shared.providers.base import ClientHooks
from shared.providers.errors import (
    AuthRejected,
    BadResponse,
    DailyCapReached,
    InvalidSymbol,
    ProviderError,
    ProviderNotice,
    RateLimited,
    Throttled,
)
from shared.providers.http import RawResponse
from testsupport.fake_providers import AV_MESSAGES, FakeProviders

AAPL = parse_symbol("AAPL")


def _client(fake: FakeProviders, hooks: ClientHooks, **kw: object) -> AlphaVantageClient:
    return AlphaVantageClient(
        keys=kw.pop("keys", ["key-1"]),  # type: ignore[arg-type]
        base_url=fake.alphavantage_base_url,
        timeout=2,
        hooks=hooks,
        **kw,  # type: ignore[arg-type]
    )


def last_request(fake: FakeProviders, *names: str) -> tuple[str, ...]:
    """The values of `names` in the last request the fake server received."""
    params = fake.market.requests[-1].params
    return tuple(params[name] for name in names)


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
    asked = last_request(fake, "function", "symbol", "market")
    assert asked == ("DIGITAL_CURRENCY_DAILY", "BTC", "USD")
    assert bars[-1].symbol == "BTC-USD"
    assert bars[-1].close == pytest.approx(fake.market.daily("BTC-USD")[-1][4])


def test_intraday_is_converted_from_us_eastern_to_utc(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    """Extended hours included (Alpha Vantage's default): 04:00 EDT pre-market is 08:00 UTC,
    the last post-market bar 19:55 EDT is 23:55 UTC; compact is the latest 100 bars."""
    client = _client(fake, hooks)
    bars = client.intraday(AAPL, "5m", full=True)
    day = fake.market.last_day
    assert len(bars) == 192
    assert bars[0].ts == datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)
    assert bars[-1].ts == datetime(day.year, day.month, day.day, 23, 55, tzinfo=UTC)
    assert {b.interval for b in bars} == {"5m"}
    assert fake.market.requests[-1].params["interval"] == "5min"
    compact = client.intraday(AAPL, "5m")
    assert len(compact) == 100
    assert compact[-1].ts == bars[-1].ts


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


@pytest.mark.parametrize("fault", sorted(AV_MESSAGES))
def test_every_known_wording_is_classified_by_meaning(fault: str) -> None:
    key, text, meaning = AV_MESSAGES[fault]
    assert classify_message(key, text) == meaning


ERRORS: dict[str, type[ProviderError]] = {
    "throttle": Throttled,
    "daily_cap": DailyCapReached,
    "premium": PremiumRequired,
    "invalid_call": InvalidCall,
    "bad_key": AuthRejected,
    "unknown": ProviderNotice,
}


@pytest.mark.parametrize("fault", sorted(AV_MESSAGES))
def test_every_limit_answer_raises_its_kind_and_is_never_data(
    fake: FakeProviders, hooks: ClientHooks, fault: str
) -> None:
    fake.market.fail("alphavantage", fault)
    _, text, meaning = AV_MESSAGES[fault]
    with pytest.raises(ERRORS[meaning]) as raised:
        _client(fake, hooks).daily(AAPL)
    assert text in raised.value.detail
    if meaning == "throttle":
        assert raised.value.retry_after == 60  # type: ignore[attr-defined]
    if meaning == "daily_cap":
        assert 0 < raised.value.retry_after <= 86400  # type: ignore[attr-defined]
    if meaning == "unknown":
        assert raised.value.notice == text  # type: ignore[attr-defined]


def test_throttle_under_information_is_not_premium(fake: FakeProviders, hooks: ClientHooks) -> None:
    """Case 1: the per-minute text under `Information` (premium URL and all) is a throttle:
    no fallback call to the raw endpoint, and the client stays premium."""
    fake.market.fail("alphavantage", "throttle_info")
    client = _client(fake, hooks, premium=True)
    with pytest.raises(Throttled, match="5 calls per minute"):
        client.daily(AAPL)
    assert client.premium is True
    assert fake.market.count("alphavantage") == 1
    assert fake.market.requests[-1].params["function"] == "TIME_SERIES_DAILY_ADJUSTED"


@pytest.mark.parametrize("market", ["USD", "EUR"])
def test_legacy_crypto_format_takes_the_market_currency(
    fake: FakeProviders, hooks: ClientHooks, market: str
) -> None:
    """Until 2024 DIGITAL_CURRENCY_DAILY sent `1a. open (EUR)` next to `1b. open (USD)` and a
    `6. market cap (USD)`: the bars carry the requested market's prices, to 8 decimals."""
    fake.market.av_crypto_legacy = True
    symbol = parse_symbol(f"BTC-{market}")
    bars = _client(fake, hooks).daily(symbol)
    served = fake.market.daily(f"BTC-{market}")
    assert len(bars) == len(served) == len(fake.market.days(every_day=True))
    last = bars[-1]
    assert (last.open, last.high, last.low, last.close) == tuple(served[-1][1:5])
    assert last.volume == pytest.approx(served[-1][5] / 1000)
    assert any(b.ts.weekday() >= 5 for b in bars)


def test_current_crypto_format_keeps_eight_decimals(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    bars = _client(fake, hooks).daily(parse_symbol("ETH-USD"))
    served = fake.market.daily("ETH-USD")
    assert [b.close for b in bars] == [row[4] for row in served]
    assert any(round(b.close, 4) != b.close for b in bars)


def test_csv_is_never_asked_for_and_refused(fake: FakeProviders, hooks: ClientHooks) -> None:
    client = _client(fake, hooks)
    client.daily(AAPL)
    assert fake.market.requests[-1].params["datatype"] == "json"
    fake.market.fail("alphavantage", "csv")
    with pytest.raises(BadResponse, match="not JSON"):
        client.daily(AAPL)


@pytest.mark.parametrize(
    ("text", "asked"),
    [("600497.SS", "600497.SHH"), ("TSCO.L", "TSCO.LON"), ("APS.AX", "APS.AX")],
)
def test_exchange_listings_use_alpha_vantage_suffixes(
    fake: FakeProviders, hooks: ClientHooks, text: str, asked: str
) -> None:
    symbol = parse_symbol(text)
    bars = _client(fake, hooks).daily(symbol)
    assert fake.market.requests[-1].params["symbol"] == asked
    assert {b.symbol for b in bars} == {symbol.text}
    assert bars[-1].close == pytest.approx(fake.market.daily(asked)[-1][4])


def test_fx_daily(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _client(fake, hooks).daily(parse_symbol("EURUSD=X"))
    asked = last_request(fake, "function", "from_symbol", "to_symbol")
    assert asked == ("FX_DAILY", "EUR", "USD")
    served = fake.market.daily("EURUSD=X")[-100:]
    assert [b.ts.date() for b in bars] == [r[0] for r in served]
    assert bars[-1].close == pytest.approx(served[-1][4], abs=1e-5)
    assert {(b.symbol, b.volume) for b in bars} == {("EUR-USD", None)}


def test_a_listing_alpha_vantage_does_not_serve_makes_no_call(
    fake: FakeProviders, hooks: ClientHooks
) -> None:
    with pytest.raises(InvalidSymbol, match="not served"):
        _client(fake, hooks).daily(parse_symbol("7203.T"))
    assert fake.market.count() == 0


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(["Note", "Information", "Error Message"]),
    text=st.text(max_size=300),
    with_series=st.booleans(),
)
def test_any_message_under_a_limit_key_is_never_data(
    key: str, text: str, with_series: bool
) -> None:
    """Whatever the wording (future ones included), an answer carrying `Note`, `Information`
    or `Error Message` raises a provider error — even next to a time series."""
    payload: dict[str, object] = {key: text}
    if with_series:
        payload["Time Series (Daily)"] = {
            "2024-06-28": {"1. open": "1", "2. high": "1", "3. low": "1", "4. close": "1"}
        }
    with pytest.raises(ProviderError):
        parse_daily(payload, AAPL, adjusted=False)
