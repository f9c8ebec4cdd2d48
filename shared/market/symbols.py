"""The one symbol convention (AAPL, BRK.B, ^GSPC, BTC-USD) and each provider's ids for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.errors import InvalidInput

SymbolKind = Literal["equity", "index", "crypto"]

FIAT = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD"})

ALIASES: dict[str, str] = {"SPX": "^GSPC", "GSPC": "^GSPC", "IXIC": "^IXIC", "COMP": "^IXIC"}

COINGECKO_IDS: dict[str, str] = {
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "SOL": "solana",
    "XRP": "ripple",
    "ADA": "cardano",
    "DOGE": "dogecoin",
    "DOT": "polkadot",
    "LTC": "litecoin",
    "BCH": "bitcoin-cash",
    "LINK": "chainlink",
    "AVAX": "avalanche-2",
    "MATIC": "matic-network",
    "BNB": "binancecoin",
    "TRX": "tron",
    "XLM": "stellar",
    "ATOM": "cosmos",
    "UNI": "uniswap",
    "USDT": "tether",
    "USDC": "usd-coin",
}

_EQUITY = re.compile(r"^[A-Z][A-Z0-9]{0,9}(\.[A-Z]{1,2})?$")
_INDEX = re.compile(r"^\^[A-Z0-9]{1,10}$")
_CRYPTO = re.compile(r"^([A-Z0-9]{2,10})-([A-Z]{3})$")


@dataclass(frozen=True)
class Symbol:
    """A parsed symbol: `text` is the canonical form used everywhere in the suite."""

    text: str
    kind: SymbolKind
    base: str
    quote: str = "USD"

    def __str__(self) -> str:
        return self.text

    @property
    def alphavantage(self) -> str | None:
        """Alpha Vantage's `symbol` (crypto: the coin, with `market` = `quote`); None for
        indices, which its free API does not serve."""
        if self.kind == "index":
            return None
        return self.base

    @property
    def yahoo(self) -> str:
        """Yahoo Finance's ticker: share classes use '-' (BRK-B); crypto is BASE-QUOTE."""
        if self.kind == "equity":
            return self.text.replace(".", "-")
        return self.text

    @property
    def coingecko(self) -> str | None:
        """CoinGecko's coin id (None for non-crypto or unknown coins)."""
        if self.kind != "crypto":
            return None
        return COINGECKO_IDS.get(self.base)

    @property
    def vs_currency(self) -> str:
        return self.quote.lower()


def parse_symbol(text: str) -> Symbol:
    """Parse and normalize a user-given symbol; `InvalidInput` names the accepted forms."""
    raw = text.strip().upper().replace("/", "-")
    raw = ALIASES.get(raw, raw)
    crypto = _CRYPTO.match(raw)
    if crypto and crypto.group(2) in FIAT:
        return Symbol(raw, "crypto", crypto.group(1), crypto.group(2))
    if _INDEX.match(raw):
        return Symbol(raw, "index", raw)
    if _EQUITY.match(raw):
        return Symbol(raw, "equity", raw)
    raise InvalidInput(
        f"unknown symbol {text!r}: use a ticker like AAPL or BRK.B, an index like ^GSPC, "
        "or a crypto pair like BTC-USD"
    )


def parse_symbols(texts: str | list[str]) -> list[Symbol]:
    """Parse a comma-separated string or a list; duplicates dropped, order kept."""
    items = texts.split(",") if isinstance(texts, str) else texts
    seen: dict[str, Symbol] = {}
    for item in items:
        if item.strip():
            symbol = parse_symbol(item)
            seen.setdefault(symbol.text, symbol)
    return list(seen.values())


def symbol_for_alphavantage(av_symbol: str, market: str | None = None) -> Symbol:
    """The canonical symbol for an Alpha Vantage (symbol, market) pair."""
    if market:
        return parse_symbol(f"{av_symbol}-{market}")
    return parse_symbol(av_symbol)
