"""The one symbol convention, each provider's spelling of it, and what is refused (and why)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InvalidInput
from shared.market.symbols import SymbolNotServed, parse_symbol, parse_symbols, require

# input, canonical, kind, Yahoo, Alpha Vantage, CoinGecko (None: that provider cannot serve it)
TABLE = [
    ("aapl", "AAPL", "equity", "AAPL", "AAPL", None),
    (" BRK.B ", "BRK.B", "equity", "BRK-B", "BRK.B", None),
    ("APS.AX", "APS.AX", "equity", "APS.AX", "APS.AX", None),
    ("600497.ss", "600497.SS", "equity", "600497.SS", "600497.SHH", None),
    ("000002.SZ", "000002.SZ", "equity", "000002.SZ", "000002.SHZ", None),
    ("TSCO.L", "TSCO.L", "equity", "TSCO.L", "TSCO.LON", None),
    ("SHOP.TO", "SHOP.TO", "equity", "SHOP.TO", "SHOP.TRT", None),
    ("RCI.B.TO", "RCI.B.TO", "equity", "RCI-B.TO", "RCI.B.TRT", None),
    ("MBG.DE", "MBG.DE", "equity", "MBG.DE", "MBG.DEX", None),
    ("RELIANCE.BO", "RELIANCE.BO", "equity", "RELIANCE.BO", "RELIANCE.BSE", None),
    ("7203.T", "7203.T", "equity", "7203.T", None, None),
    ("0700.HK", "0700.HK", "equity", "0700.HK", None, None),
    ("^gspc", "^GSPC", "index", "^GSPC", None, None),
    ("SPX", "^GSPC", "index", "^GSPC", None, None),
    ("^N225", "^N225", "index", "^N225", None, None),
    ("EURUSD=X", "EUR-USD", "fx", "EURUSD=X", "EUR", None),
    ("eur/usd", "EUR-USD", "fx", "EURUSD=X", "EUR", None),
    ("GBPUSD", "GBP-USD", "fx", "GBPUSD=X", "GBP", None),
    ("JPY=X", "USD-JPY", "fx", "USDJPY=X", "USD", None),
    ("btc-usd", "BTC-USD", "crypto", "BTC-USD", "BTC", "bitcoin"),
    ("ETH/EUR", "ETH-EUR", "crypto", "ETH-EUR", "ETH", "ethereum"),
    ("ETH-BTC", "ETH-BTC", "crypto", "ETH-BTC", None, "ethereum"),
    ("SOL-USDT", "SOL-USDT", "crypto", "SOL-USDT", None, None),
    ("FOO-USD", "FOO-USD", "crypto", "FOO-USD", "FOO", None),
]


@pytest.mark.parametrize(("text", "canonical", "kind", "yahoo", "av", "cg"), TABLE)
def test_each_provider_spells_the_symbol(
    text: str, canonical: str, kind: str, yahoo: str, av: str | None, cg: str | None
) -> None:
    symbol = parse_symbol(text)
    assert (symbol.text, symbol.kind) == (canonical, kind)
    assert (symbol.yahoo, symbol.alphavantage, symbol.coingecko) == (yahoo, av, cg)
    assert parse_symbol(symbol.text) == symbol, "the canonical form parses to itself"
    assert parse_symbol(symbol.yahoo) == symbol, "Yahoo's spelling is accepted too"


def test_fx_pair_details() -> None:
    fx = parse_symbol("EURUSD=X")
    assert (fx.base, fx.quote) == ("EUR", "USD")
    assert "=" not in fx.text  # the canonical form is a valid lake partition value


@pytest.mark.parametrize(
    ("symbol", "provider", "others"),
    [
        ("^GSPC", "alphavantage", "yahoo"),
        ("7203.T", "alphavantage", "yahoo"),
        ("AAPL", "coingecko", "alphavantage or yahoo"),
        ("EUR-USD", "coingecko", "alphavantage or yahoo"),
    ],
)
def test_a_provider_that_cannot_serve_a_symbol_is_a_422(
    symbol: str, provider: str, others: str
) -> None:
    with pytest.raises(SymbolNotServed) as refused:
        require(parse_symbol(symbol), provider)
    assert refused.value.status == 422
    assert f"{provider} does not serve {symbol}" in refused.value.detail
    assert f"use {others}" in refused.value.detail


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "AAPL"),
        ("aapl!", "'!' is not allowed"),
        ("BTC-XYZW", "AAPL"),
        ("TOOLONGSYMBOL1", "AAPL"),
        ("1ABC", "AAPL"),
        ("aßx", "non-ASCII character (U+00DF) at position 1"),
        ("\uff21\uff21\uff30\uff2c", "non-ASCII character (U+FF21) at position 0"),
        ("AA\x00PL", "control character (U+0000) at position 2"),
        ("AAPL\n", "control character (U+000A) at position 4"),
        ("\x7fAAPL", "control character (U+007F) at position 0"),
        ("A" * 33, "longer than 32 characters"),
        ("APS.XYZ", "AAPL"),
        ("BINANCE:BTCUSDT", "AAPL"),
    ],
)
def test_rejects_with_a_readable_message(text: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_symbol(text)
    assert refused.value.status == 422
    assert why in refused.value.detail


def test_unicode_is_not_upper_cased_into_ascii() -> None:
    """`"aßx".upper()` is "ASSX": checking after upper-casing would accept it (issue 12)."""
    assert "aßx".upper() == "ASSX"
    with pytest.raises(InvalidInput, match="non-ASCII"):
        parse_symbol("aßx")
    with pytest.raises(InvalidInput, match="non-ASCII"):
        parse_symbols(["AAPL", "aßx"])


def test_parse_symbols_dedupes_in_order() -> None:
    assert [s.text for s in parse_symbols("msft, AAPL,msft,spx,EURUSD=X,eur/usd")] == [
        "MSFT",
        "AAPL",
        "^GSPC",
        "EUR-USD",
    ]


@pytest.mark.parametrize("canonical", sorted({row[1] for row in TABLE}))
def test_every_canonical_symbol_has_a_feed_group(canonical: str) -> None:
    """The live feed names its groups after canonical symbols: every form must make one
    (^GSPC did not, and negotiating it was a 500)."""
    from shared.feed.groups import group_for, symbol_of

    assert symbol_of(group_for(canonical)) == canonical


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"[A-Za-z0-9.\-^=/ ]{0,20}", fullmatch=True)))
def test_any_text_parses_or_is_a_422(text: str) -> None:
    """Fuzz: any input is a symbol whose canonical form is a fixed point, or a 422 — never
    another exception (a 500), never non-ASCII text let through."""
    try:
        symbol = parse_symbol(text)
    except InvalidInput:  # status 422 (see test_rejects_with_a_readable_message)
        return
    assert symbol.text.isascii()
    assert parse_symbol(symbol.text) == symbol
    assert symbol.yahoo.isascii()
