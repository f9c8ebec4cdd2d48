"""The sample provider serves the real datasets bundled in installed packages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.market.symbols import parse_symbol
from shared.providers.errors import InvalidSymbol
from shared.providers.sample import SampleClient


def test_sp500_from_arch_is_the_real_series() -> None:
    bars = SampleClient().daily(parse_symbol("SPX"), start=date(1999, 1, 1), end=date(1999, 1, 6))
    assert [b.ts for b in bars] == [
        datetime(1999, 1, 4, tzinfo=UTC),
        datetime(1999, 1, 5, tzinfo=UTC),
    ]
    first = bars[0]
    assert (first.symbol, first.open, first.close, first.volume) == (
        "^GSPC",
        pytest.approx(1229.22998),
        pytest.approx(1228.099976),
        877_000_000,
    )
    assert first.source == "sample"


def test_goog_from_matplotlib_sample_data() -> None:
    bars = SampleClient().daily(parse_symbol("GOOG"))
    assert bars[0].ts == datetime(2004, 8, 19, tzinfo=UTC)
    assert (bars[0].open, bars[0].close) == (100.0, 100.34)


def test_quote_is_the_last_close_with_its_own_date() -> None:
    quote = SampleClient().quote(parse_symbol("^GSPC"))
    assert quote is not None
    assert quote.ts == datetime(2018, 12, 31, tzinfo=UTC)
    assert quote.price == pytest.approx(2506.850098)


def test_unknown_symbol() -> None:
    with pytest.raises(InvalidSymbol):
        SampleClient().daily(parse_symbol("AAPL"))


@pytest.mark.slow
def test_reads_exactly_what_arch_loads() -> None:
    from arch.data import sp500

    expected = sp500.load()
    bars = SampleClient().daily(parse_symbol("^GSPC"))
    assert len(bars) == len(expected)
    assert [b.close for b in bars[-5:]] == pytest.approx(list(expected["Close"].iloc[-5:]))
    assert bars[-1].ts.date() == expected.index[-1].date()
