"""Watchlists: named lists of symbols per account, and the union every feed subscribes to."""

from shared.watchlists.store import (
    Watchlist,
    WatchlistIn,
    WatchlistStore,
    watched_symbols,
)

__all__ = ["Watchlist", "WatchlistIn", "WatchlistStore", "watched_symbols"]
