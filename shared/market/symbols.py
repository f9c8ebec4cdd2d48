"""The one symbol convention and how each provider spells it.

Canonical forms (what the suite stores, shows and partitions the lake by):

- equity: `AAPL`; a share class after a dot, `BRK.B`; a non-US listing with its exchange's
  suffix as Yahoo writes it, `APS.AX` (ASX), `600497.SS` (Shanghai), `RCI.B.TO` (class B on
  Toronto). A suffix is an exchange only when it is in `EXCHANGES`; else it is a share class.
- index: `^GSPC` (aliases SPX, GSPC, IXIC, COMP).
- crypto: `BTC-USD` (coin, dash, the currency it is priced in).
- fx: `EUR-USD` (two ISO currencies); `EURUSD=X`, `EUR/USD`, `EURUSD` and Yahoo's `JPY=X`
  (= USD-JPY) are accepted and mean the same. The canonical form has no `=`: lake partition
  values cannot hold one.

`Symbol.spelling(provider)` is each provider's spelling (the table in the README and in
tests/providers/test_symbols.py); `None` means the provider cannot serve the symbol, and
`require(symbol, provider)` turns that into a 422 naming the providers that can.

Input is checked as ASCII before anything else: `"aßx"` is refused, not upper-cased to `ASSX`,
and control characters (NUL included) are refused with the position of the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.errors import InvalidInput
from shared.market.models import MARKET_PROVIDERS

SymbolKind = Literal["equity", "index", "crypto", "fx"]
MAX_SYMBOL_LENGTH = 32
"""Longest symbol text accepted (before any parsing)."""

FIAT = frozenset(
    {
        *("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNY", "CNH", "HKD", "SGD"),
        *("SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "TRY", "ZAR", "MXN", "BRL", "INR", "KRW"),
        *("TWD", "THB", "IDR", "ILS", "RUB", "SAR", "AED"),
    }
)
"""ISO 4217 codes of currencies a pair of which is an FX symbol (and a crypto's quote)."""
CRYPTO_QUOTES = frozenset({"USDT", "USDC", "BTC", "ETH"})
"""Non-fiat currencies a crypto pair may be priced in (ETH-BTC, SOL-USDT)."""

EXCHANGES: dict[str, str | None] = {
    # Yahoo suffix: Alpha Vantage's suffix (None: Alpha Vantage does not document it)
    "L": "LON",
    "TO": "TRT",
    "V": "TRV",
    "DE": "DEX",
    "BO": "BSE",
    "SS": "SHH",
    "SZ": "SHZ",
    "AX": "AX",
    "NS": None,
    "HK": None,
    "T": None,
    "F": None,
    "PA": None,
    "AS": None,
    "MI": None,
    "MC": None,
    "SW": None,
    "ST": None,
    "OL": None,
    "CO": None,
    "HE": None,
    "KS": None,
    "KQ": None,
    "SI": None,
    "SA": None,
    "MX": None,
    "NZ": None,
    "TW": None,
    "TWO": None,
    "VI": None,
    "BR": None,
    "LS": None,
    "IR": None,
    "WA": None,
    "JO": None,
    "TA": None,
}
"""Exchange suffixes (Yahoo's spelling) and Alpha Vantage's spelling of the same exchange,
from Alpha Vantage's documented examples (TSCO.LON, SHOP.TRT, GPV.TRV, MBG.DEX, RELIANCE.BSE,
600104.SHH, 000002.SHZ); ASX listings keep `.AX` (Alpha Vantage served `ILB.AX`:
RomelTorres/alpha_vantage#173)."""

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
COINGECKO_VS = frozenset({*(c.lower() for c in FIAT), "btc", "eth"})
"""CoinGecko `vs_currency` values the suite asks for (all in its supported list)."""

_ALLOWED = re.compile(r"^[A-Za-z0-9.\-^=/: ]*$")
_EQUITY = re.compile(r"^(?P<base>[A-Z0-9]{1,12})(?:\.(?P<a>[A-Z]{1,3}))?(?:\.(?P<b>[A-Z]{1,3}))?$")
_YAHOO_CLASS = re.compile(r"^([A-Z0-9]{1,12})-([A-Z]{1,2})(\.|$)")
"""Yahoo's share class spelling, BRK-B / RCI-B.TO, read as BRK.B / RCI.B.TO."""
_INDEX = re.compile(r"^\^[A-Z0-9.]{1,10}$")
_PAIR = re.compile(r"^([A-Z0-9]{2,10})-([A-Z]{3,4})$")
_FX_YAHOO = re.compile(r"^([A-Z]{3})?([A-Z]{3})=X$")
_FX_PLAIN = re.compile(r"^([A-Z]{3})([A-Z]{3})$")

HELP = (
    "use a ticker like AAPL or BRK.B, a listing with its exchange suffix like APS.AX or "
    "600497.SS, an index like ^GSPC, a crypto pair like BTC-USD or an FX pair like EUR-USD "
    "(EURUSD=X)"
)


class SymbolNotServed(InvalidInput):
    """A provider cannot serve this symbol (an index on Alpha Vantage, a stock on CoinGecko)."""

    title = "Symbol not served by this provider"


@dataclass(frozen=True)
class Symbol:
    """A parsed symbol: `text` is the canonical form used everywhere in the suite."""

    text: str
    kind: SymbolKind
    base: str
    quote: str = "USD"
    share_class: str | None = None
    exchange: str | None = None
    """The exchange suffix (Yahoo's spelling) of a non-US listing; None for US listings."""

    def __str__(self) -> str:
        return self.text

    @property
    def alphavantage(self) -> str | None:
        """Alpha Vantage's `symbol` (crypto: the coin, with `market` = `quote`; fx: the
        `from_symbol`, with `to_symbol` = `quote`); None where it serves no such symbol."""
        if self.kind == "index":
            return None
        if self.kind == "crypto":
            return self.base if self.quote in FIAT else None
        if self.kind == "fx":
            return self.base
        ticker = self.base + (f".{self.share_class}" if self.share_class else "")
        if self.exchange is None:
            return ticker
        suffix = EXCHANGES.get(self.exchange)
        return f"{ticker}.{suffix}" if suffix else None

    @property
    def yahoo(self) -> str:
        """Yahoo Finance's ticker: share classes use '-' (BRK-B, RCI-B.TO); FX is EURUSD=X."""
        if self.kind == "fx":
            return f"{self.base}{self.quote}=X"
        if self.kind == "equity":
            ticker = self.base + (f"-{self.share_class}" if self.share_class else "")
            return ticker + (f".{self.exchange}" if self.exchange else "")
        return self.text

    @property
    def coingecko(self) -> str | None:
        """CoinGecko's coin id (None for non-crypto, unknown coins or unsupported quotes)."""
        if self.kind != "crypto" or self.vs_currency not in COINGECKO_VS:
            return None
        return COINGECKO_IDS.get(self.base)

    @property
    def vs_currency(self) -> str:
        return self.quote.lower()

    def spelling(self, provider: str) -> str | None:
        """How `provider` spells this symbol; None if it cannot serve it."""
        if provider == "alphavantage":
            return self.alphavantage
        if provider == "yahoo":
            return self.yahoo
        if provider == "coingecko":
            return self.coingecko
        if provider == "sample":
            return self.text
        return None

    def served_by(self) -> list[str]:
        return [p for p in MARKET_PROVIDERS if self.spelling(p) is not None]


def require(symbol: Symbol, provider: str) -> str:
    """`provider`'s spelling of `symbol`, or a 422 naming the providers that serve it."""
    spelling = symbol.spelling(provider)
    if spelling is None:
        others = symbol.served_by()
        raise SymbolNotServed(
            f"{provider} does not serve {symbol} ({symbol.kind}); "
            + (f"use {' or '.join(others)}" if others else "no configured provider serves it")
        )
    return spelling


def _check_text(text: object) -> str:
    """The raw text, refused before any normalisation unless it is short printable ASCII."""
    if not isinstance(text, str):
        raise InvalidInput(f"a symbol must be a string, got {type(text).__name__}")
    if len(text) > MAX_SYMBOL_LENGTH:
        raise InvalidInput(f"symbol longer than {MAX_SYMBOL_LENGTH} characters; {HELP}")
    for index, char in enumerate(text):
        if ord(char) < 32 or ord(char) == 127:
            raise InvalidInput(
                f"symbol contains a control character (U+{ord(char):04X}) at position "
                f"{index}; {HELP}"
            )
        if ord(char) > 126:
            raise InvalidInput(
                f"symbol contains a non-ASCII character (U+{ord(char):04X}) at position "
                f"{index}: symbols are ASCII letters, digits and . - ^ = /; {HELP}"
            )
    if not _ALLOWED.match(text):
        bad = next(c for c in text if not _ALLOWED.match(c))
        raise InvalidInput(f"unknown symbol {text!r}: {bad!r} is not allowed; {HELP}")
    return text


def _fx(base: str, quote: str) -> Symbol:
    return Symbol(f"{base}-{quote}", "fx", base, quote)


def parse_symbol(text: str) -> Symbol:
    """Parse and normalize a user-given symbol; `InvalidInput` (422) names the accepted forms."""
    raw = _check_text(text).strip().upper().replace("/", "-")
    raw = ALIASES.get(raw, raw)
    if yahoo_fx := _FX_YAHOO.match(raw):
        base, quote = yahoo_fx.group(1) or "USD", yahoo_fx.group(2)
        if base in FIAT and quote in FIAT and base != quote:
            return _fx(base, quote)
    pair = _PAIR.match(raw)
    if pair:
        base, quote = pair.groups()
        if base in FIAT and quote in FIAT and base != quote:
            return _fx(base, quote)
        if quote in FIAT or quote in CRYPTO_QUOTES:
            return Symbol(raw, "crypto", base, quote)
    if plain_fx := _FX_PLAIN.match(raw):
        base, quote = plain_fx.groups()
        if base in FIAT and quote in FIAT and base != quote:
            return _fx(base, quote)
    if _INDEX.match(raw):
        return Symbol(raw, "index", raw)
    equity = _EQUITY.match(_YAHOO_CLASS.sub(r"\1.\2\3", raw))
    if equity:
        base, first, second = equity.group("base"), equity.group("a"), equity.group("b")
        share_class, exchange = None, None
        if second is not None:
            share_class, exchange = first, second
        elif first is not None and first in EXCHANGES:
            exchange = first
        else:
            share_class = first
        valid = (
            (exchange is None or exchange in EXCHANGES)
            and (share_class is None or len(share_class) <= 2)
            and (base[0].isalpha() or exchange is not None)
        )
        if valid:
            text = base + "".join(f".{part}" for part in (share_class, exchange) if part)
            return Symbol(text, "equity", base, share_class=share_class, exchange=exchange)
    raise InvalidInput(f"unknown symbol {text!r}: {HELP}")


def distinct_symbols(texts: list[str]) -> list[str]:
    """The canonical texts of `texts` (blank entries skipped), first occurrence first; a
    ValueError if none is left (a request's `symbols` field)."""
    cleaned = [parse_symbol(text).text for text in texts if text.strip()]
    if not cleaned:
        raise ValueError("name at least one symbol")
    return list(dict.fromkeys(cleaned))


def parse_symbols(texts: str | list[str]) -> list[Symbol]:
    """Parse a comma-separated string or a list; duplicates dropped, order kept."""
    items = texts.split(",") if isinstance(texts, str) else texts
    seen: dict[str, Symbol] = {}
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        symbol = parse_symbol(item)
        seen.setdefault(symbol.text, symbol)
    return list(seen.values())


def symbol_for_alphavantage(av_symbol: str, market: str | None = None) -> Symbol:
    """The canonical symbol for an Alpha Vantage (symbol, market) pair."""
    if market:
        return parse_symbol(f"{av_symbol}-{market}")
    return parse_symbol(av_symbol)
