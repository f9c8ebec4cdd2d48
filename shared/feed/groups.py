"""Web PubSub group names of the live feed and the symbol mapping to Finnhub's ids."""

from __future__ import annotations

import re

GROUP_PREFIX = "ticks."
ALL_TICKS_GROUP = "ticks._all"
"""Every trade of every symbol (underscore: no ticker can collide with it)."""

_SYMBOL = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=:]{0,31}$")
"""A ticker, optionally an index's leading `^` (`^GSPC`); `^` only there."""
_CRYPTO = re.compile(r"^([A-Z0-9]{2,10})-(USD|USDT)$")


def normalize_symbol(symbol: str) -> str:
    """Upper-case, trimmed symbol; `ValueError` naming the symbol if it cannot be a ticker."""
    text = symbol.strip().upper()
    if not _SYMBOL.match(text):
        raise ValueError(
            f"{symbol!r} is not a symbol (letters, digits and . - = :, or a leading ^ for an index)"
        )
    return text


def group_for(symbol: str) -> str:
    """The group a symbol's trades are published to: `ticks.<SYMBOL>`."""
    return GROUP_PREFIX + normalize_symbol(symbol)


def symbol_of(group: str) -> str | None:
    """The symbol of a `ticks.<SYMBOL>` group; None for the all-ticks group or others."""
    if group == ALL_TICKS_GROUP or not group.startswith(GROUP_PREFIX):
        return None
    return group[len(GROUP_PREFIX) :]


def join_role(group: str) -> str:
    """The Web PubSub role that lets a client join and leave exactly this group."""
    return f"webpubsub.joinLeaveGroup.{group}"


def to_finnhub(symbol: str) -> str:
    """The Finnhub stream id of a suite symbol: crypto `BTC-USD` → `BINANCE:BTCUSDT`."""
    text = normalize_symbol(symbol)
    crypto = _CRYPTO.match(text)
    if crypto:
        return f"BINANCE:{crypto.group(1)}USDT"
    return text


def from_finnhub(stream_id: str) -> str:
    """The suite symbol of a Finnhub stream id (inverse of `to_finnhub`)."""
    if stream_id.startswith("BINANCE:") and stream_id.endswith("USDT"):
        return stream_id[len("BINANCE:") : -len("USDT")] + "-USD"
    return stream_id
