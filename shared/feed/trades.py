"""Trades from Finnhub's websocket: the model, message parsing and the de-duplication key."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from shared.feed.groups import normalize_symbol

log = logging.getLogger("shared.feed.trades")


class Trade(NamedTuple):
    """One trade as Finnhub reports it (`s`, `p`, `v`, `t` ms, `c` conditions); a named
    tuple, as the relay builds tens of thousands per second.

    `seq` numbers identical trades (same symbol, ms, price, volume, conditions) in the
    order they arrived on one connection, so two genuine identical prints keep distinct
    archive keys while a second copy of the same stream gets the same keys.
    """

    symbol: str
    price: float
    volume: float
    ts_ms: int
    conditions: tuple[str, ...] = ()
    seq: int = 0


class TradeSequencer:
    """Assigns `seq` to identical trades within one symbol's millisecond, per connection."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, dict[tuple[float, float, tuple[str, ...]], int]]] = {}

    def number(
        self, symbol: str, price: float, volume: float, ts_ms: int, conditions: tuple[str, ...]
    ) -> int:
        last = self._last.get(symbol)
        if last is None or last[0] != ts_ms:
            self._last[symbol] = (ts_ms, {(price, volume, conditions): 1})
            return 0
        seen = last[1]
        identity = (price, volume, conditions)
        seq = seen.get(identity, 0)
        seen[identity] = seq + 1
        return seq


@dataclass(frozen=True, slots=True)
class FinnhubMessage:
    """A parsed Finnhub websocket message: `kind` is trade, ping, error or unknown."""

    kind: str
    trades: tuple[Trade, ...] = ()
    error: str = ""


MIN_TS_MS = 946_684_800_000
"""2000-01-01 UTC: trade times before it (or from 2100 on) are not believed."""
MAX_TS_MS = 4_102_444_800_000
_VALID_SYMBOLS: dict[str, bool] = {}


def _valid_symbol(symbol: object) -> bool:
    """Whether `symbol` can name a Web PubSub group (cached: the feed repeats a few symbols)."""
    if not isinstance(symbol, str):
        return False
    known = _VALID_SYMBOLS.get(symbol)
    if known is None:
        try:
            known = normalize_symbol(symbol) == symbol
        except ValueError:
            known = False
        if len(_VALID_SYMBOLS) > 100_000:
            _VALID_SYMBOLS.clear()
        _VALID_SYMBOLS[symbol] = known
    return known


class MalformedMessageError(ValueError):
    """A websocket frame that is not a Finnhub message (bad JSON, wrong shape)."""


def parse_finnhub(
    raw: str | bytes, sequencer: TradeSequencer, rename: Mapping[str, str] | None = None
) -> FinnhubMessage:
    """Parse one frame; raises `MalformedMessageError` for bad JSON or a malformed trade list.

    `rename` maps Finnhub stream ids to suite symbols (e.g. BINANCE:BTCUSDT → BTC-USD).

    A trade entry missing a field or with a non-numeric value is skipped and logged; the
    rest of the frame is kept.
    """
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise MalformedMessageError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise MalformedMessageError(f"not a JSON object: {type(message).__name__}")
    kind = message.get("type")
    if kind == "ping":
        return FinnhubMessage("ping")
    if kind == "error":
        return FinnhubMessage("error", error=str(message.get("msg", "")))
    if kind != "trade":
        return FinnhubMessage("unknown", error=str(kind))
    data = message.get("data")
    if not isinstance(data, list):
        raise MalformedMessageError("trade message without a 'data' list")
    trades: list[Trade] = []
    append = trades.append
    number = sequencer.number
    renamed = rename.get if rename is not None else None
    for entry in data:
        try:
            symbol = entry["s"]
            price = float(entry["p"])
            volume = float(entry.get("v") or 0.0)
            ts_ms = int(entry["t"])
            raw_conditions = entry.get("c")
            conditions = tuple(map(str, raw_conditions)) if raw_conditions else ()
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            log.warning("skipped a malformed trade entry %r: %s", entry, error)
            continue
        if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
            log.warning("skipped a trade entry with an implausible time: %r", entry)
            continue
        if renamed is not None and isinstance(symbol, str):
            symbol = renamed(symbol, symbol)
        if not _valid_symbol(symbol):
            log.warning("skipped a trade entry without a valid symbol: %r", entry)
            continue
        append(
            Trade(
                symbol,
                price,
                volume,
                ts_ms,
                conditions,
                number(symbol, price, volume, ts_ms, conditions),
            )
        )
    return FinnhubMessage("trade", trades=tuple(trades))


def finnhub_trade_frame(trades: list[Trade]) -> str:
    """The Finnhub wire form of a list of trades (what the local servers send)."""
    return json.dumps(
        {
            "type": "trade",
            "data": [
                {"s": t.symbol, "p": t.price, "v": t.volume, "t": t.ts_ms, "c": list(t.conditions)}
                for t in trades
            ],
        },
        separators=(",", ":"),
    )
