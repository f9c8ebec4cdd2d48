"""The one symbol convention and its provider mappings."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.market.symbols import parse_symbol, parse_symbols


@pytest.mark.parametrize(
    ("text", "canonical", "kind"),
    [
        ("aapl", "AAPL", "equity"),
        (" BRK.B ", "BRK.B", "equity"),
        ("^gspc", "^GSPC", "index"),
        ("SPX", "^GSPC", "index"),
        ("btc-usd", "BTC-USD", "crypto"),
        ("ETH/EUR", "ETH-EUR", "crypto"),
    ],
)
def test_parse_normalizes(text: str, canonical: str, kind: str) -> None:
    symbol = parse_symbol(text)
    assert (symbol.text, symbol.kind) == (canonical, kind)


def test_provider_ids() -> None:
    brk = parse_symbol("BRK.B")
    assert (brk.yahoo, brk.alphavantage, brk.coingecko) == ("BRK-B", "BRK.B", None)
    btc = parse_symbol("BTC-USD")
    assert (btc.yahoo, btc.alphavantage, btc.coingecko, btc.vs_currency) == (
        "BTC-USD",
        "BTC",
        "bitcoin",
        "usd",
    )
    assert parse_symbol("^GSPC").alphavantage is None
    assert parse_symbol("FOO-USD").coingecko is None


@pytest.mark.parametrize("text", ["", "aapl!", "BTC-XYZW", "TOOLONGSYMBOL1", "1ABC"])
def test_rejects_with_a_readable_message(text: str) -> None:
    with pytest.raises(InvalidInput, match="AAPL"):
        parse_symbol(text)


def test_parse_symbols_dedupes_in_order() -> None:
    assert [s.text for s in parse_symbols("msft, AAPL,msft,spx")] == ["MSFT", "AAPL", "^GSPC"]
