"""yfinance without network: its session is pointed at the fake chart server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.market.symbols import parse_symbol
from shared.providers.base import ClientHooks
from shared.providers.errors import BadResponse, InvalidSymbol, ProviderUnavailable, RateLimited
from shared.providers.http import RawResponse
from shared.providers.yahoo import YahooClient
from testsupport.fake_providers import FakeProviders

JUNE = (date(2024, 6, 1), date(2024, 6, 29))


def _client(fake: FakeProviders, hooks: ClientHooks) -> YahooClient:
    return YahooClient(hooks=hooks, timeout=0.5, base_url=fake.yahoo_base_url)


def _history(fake: FakeProviders, hooks: ClientHooks, ticker: str = "AAPL") -> list:
    return _client(fake, hooks).history(parse_symbol(ticker), "1d", start=JUNE[0], end=JUNE[1])


def test_daily_history_in_utc_with_adjustment_recorded(
    fake: FakeProviders, hooks: ClientHooks, raw: list[RawResponse]
) -> None:
    bars = _history(fake, hooks)
    served = [r for r in fake.market.daily("AAPL") if JUNE[0] <= r[0] < JUNE[1]]
    assert [b.ts for b in bars] == [
        datetime(r[0].year, r[0].month, r[0].day, tzinfo=UTC) for r in served
    ]
    assert bars[-1].close == pytest.approx(served[-1][4])
    assert bars[-1].adj_close == pytest.approx(served[-1][4] * 0.98, abs=1e-3)
    assert {(b.source, b.adjustment) for b in bars} == {("yahoo", "split")}
    assert raw
    assert raw[-1].params["ticker"] == "AAPL"
    assert raw[-1].status == 200
    # The chart carried Yahoo's null bar and its events block (a split, in June): the null
    # bar is not a bar, and the events change no prices (Yahoo's OHLC are split-adjusted).
    body = json.loads(raw[-1].body)["chart"]["result"][0]
    assert None in body["indicators"]["quote"][0]["close"]
    assert body["events"]["splits"]
    assert len(body["timestamp"]) == len(bars) + 1


def test_crypto_session_dates_are_utc_days(fake: FakeProviders, hooks: ClientHooks) -> None:
    bars = _history(fake, hooks, "BTC-USD")
    assert bars[-1].ts == datetime(2024, 6, 28, tzinfo=UTC)


def test_quote_from_chart_metadata(fake: FakeProviders, hooks: ClientHooks) -> None:
    client = _client(fake, hooks)
    symbol = parse_symbol("MSFT")
    bars = client.history(symbol, "1d", start=JUNE[0], end=JUNE[1])
    quote = client.quote(symbol, bars)
    rows = fake.market.daily("MSFT")
    assert quote is not None
    assert quote.price == pytest.approx(rows[-1][4])
    assert quote.change == pytest.approx(rows[-1][4] - rows[-2][4], abs=1e-6)
    assert quote.ts == datetime(2024, 6, 28, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fault", "times", "error"),
    [
        ("429", 3, RateLimited),
        ("timeout", 3, ProviderUnavailable),  # on every attempt
        ("malformed", 1, BadResponse),
    ],
)
def test_a_failing_answer_is_its_own_error(
    fake: FakeProviders, hooks: ClientHooks, fault: str, times: int, error: type[Exception]
) -> None:
    _history(fake, hooks)
    fake.market.fail("yahoo", fault, times=times)
    with pytest.raises(error):
        _history(fake, hooks)


def test_5xx_then_success(fake: FakeProviders, hooks: ClientHooks) -> None:
    _history(fake, hooks)
    fake.market.fail("yahoo", "500")
    before = fake.market.count("yahoo")
    assert _history(fake, hooks)
    assert fake.market.count("yahoo") - before >= 2


def test_empty_result_is_no_data(fake: FakeProviders, hooks: ClientHooks) -> None:
    client = _client(fake, hooks)
    assert (
        client.history(parse_symbol("AAPL"), "1d", start=date(2024, 7, 1), end=date(2024, 7, 5))
        == []
    )


def test_unknown_ticker_is_invalid(fake: FakeProviders, hooks: ClientHooks) -> None:
    fake.market.unknown.add("NOPE")
    with pytest.raises(InvalidSymbol):
        _history(fake, hooks, "NOPE")


def test_intraday_bars_are_utc(fake: FakeProviders, hooks: ClientHooks) -> None:
    client = _client(fake, hooks)
    bars = client.history(
        parse_symbol("AAPL"), "15m", start=date(2024, 6, 27), end=date(2024, 6, 29)
    )
    assert len(bars) == 2 * 26
    assert bars[0].ts == datetime(2024, 6, 27, 13, 30, tzinfo=UTC)
    assert bars[-1].ts == datetime(2024, 6, 28, 19, 45, tzinfo=UTC)
    assert {b.interval for b in bars} == {"15m"}
    assert bars[-1].close == pytest.approx(fake.market.daily("AAPL")[-1][4])


@pytest.mark.parametrize(
    ("text", "ticker"),
    [
        ("APS.AX", "APS.AX"),
        ("600497.SS", "600497.SS"),
        ("EURUSD=X", "EURUSD=X"),
        ("BRK.B", "BRK-B"),
    ],
)
def test_exchange_listings_fx_and_classes_reach_yahoo_unmangled(
    fake: FakeProviders, hooks: ClientHooks, raw: list[RawResponse], text: str, ticker: str
) -> None:
    """Case 3: APS.AX stays APS.AX (it became APS-AX), 600497.SS and EURUSD=X are served."""
    symbol = parse_symbol(text)
    bars = _client(fake, hooks).history(symbol, "1d", start=JUNE[0], end=JUNE[1])
    assert raw[-1].params["ticker"] == ticker
    assert bars
    assert {b.symbol for b in bars} == {symbol.text}
    assert bars[-1].close == pytest.approx(fake.market.daily(ticker)[-1][4])


@pytest.mark.parametrize("ticker", ["FPH.NZ", "APS.AX", "7203.T"])
def test_daily_bars_take_the_exchange_local_session_date(
    fake: FakeProviders, hooks: ClientHooks, raw: list[RawResponse], ticker: str
) -> None:
    """Yahoo stamps a daily bar at the local open: NZX's 10:00 NZST is 22:00 UTC of the day
    before. The bar is the exchange-local session's date, never the UTC date of the stamp."""
    bars = _client(fake, hooks).history(parse_symbol(ticker), "1d", start=JUNE[0], end=JUNE[1])
    served = [r[0] for r in fake.market.daily(ticker) if JUNE[0] <= r[0] < JUNE[1]]
    assert [b.ts.date() for b in bars] == served
    assert all(b.ts.hour == 0 for b in bars)
    stamps = [s for s in json.loads(raw[-1].body)["chart"]["result"][0]["timestamp"]]
    if ticker == "FPH.NZ":
        first = datetime.fromtimestamp(stamps[0], UTC)
        assert (first.date(), first.hour) == (served[0] - timedelta(days=1), 22)
