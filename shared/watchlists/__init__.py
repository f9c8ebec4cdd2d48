"""Watchlists: named lists of symbols per account (with per-account limits), and the fair
selection of the watched symbols every feed and timer serves."""

from shared.watchlists.selection import (
    SymbolSelection,
    select_symbols,
    select_watched,
    watched_by,
)
from shared.watchlists.store import Watchlist, WatchlistIn, WatchlistStore

__all__ = [
    "SymbolSelection",
    "Watchlist",
    "WatchlistIn",
    "WatchlistStore",
    "select_symbols",
    "select_watched",
    "watched_by",
]
