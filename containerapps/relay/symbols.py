"""The symbols to relay: the union of every watchlist's `symbols` plus the defaults."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared.errors import InvalidInput
from shared.market.symbols import parse_symbol
from shared.storage.documents import DocumentStore

log = logging.getLogger("relay.symbols")


NOT_STREAMED = frozenset({"fx", "index"})
"""Kinds the relay does not subscribe: Finnhub's trade stream has no index trades (^GSPC), and
the stream id mapping (`to_finnhub`) would send an FX pair such as EUR-USD to the crypto pair
BINANCE:EURUSDT, a different instrument."""


def normalize(symbols: Iterable[object]) -> tuple[set[str], list[str]]:
    """Canonical symbols the relay streams, and the entries it does not (not symbols, or a
    kind Finnhub's trade stream is not asked for)."""
    good: set[str] = set()
    bad: list[str] = []
    for item in symbols:
        try:
            symbol = parse_symbol(str(item))
        except InvalidInput:
            bad.append(str(item))
            continue
        if symbol.kind in NOT_STREAMED:
            bad.append(symbol.text)
        else:
            good.add(symbol.text)
    return good, bad


def wanted_symbols(documents: DocumentStore | None, defaults: Iterable[str]) -> set[str]:
    """Union of all watchlists (cross-partition) and `defaults`; bad entries are logged."""
    raw: list[object] = list(defaults)
    if documents is not None:
        for watchlist in documents.query_all("watchlists", None):
            entries = watchlist.get("symbols")
            if isinstance(entries, list):
                raw.extend(e.get("symbol", "") if isinstance(e, dict) else e for e in entries)
    good, bad = normalize(raw)
    if bad:
        log.warning(
            "not relayed: %d entries that are not streamable symbols: %s",
            len(bad),
            sorted(set(bad))[:10],
        )
    return good
