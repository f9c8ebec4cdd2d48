"""The watched symbols: which symbols the shared capacity serves, fair across accounts.

The relay can hold only so many subscriptions (keys x symbols per connection) and the
ingestion timers only so many provider calls, so when the watchlists ask for more than fits,
`select_symbols` decides what is served, in this order:

1. DEFAULT_SYMBOLS (and the relay's extra symbols), as configured: the operator's choice;
2. then the symbols watched by more distinct accounts before those watched by fewer;
3. among symbols watched by as many accounts, round-robin over the accounts, each account
   offering its own symbols in its own order (oldest watchlist first, then list order).

So one account with hundreds of symbols takes at most one slot per round from an account
with two: it cannot crowd another account off the feed. What does not fit is `left_out`,
shown in the relay's /readyz and in GET /api/health/providers. This module is the one owner
of "the watched symbols": the relay and the timers read `select_watched`, the feed's
negotiation `watched_by` (one account's), the watchlist limits `symbols_of`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidInput
from shared.market.symbols import parse_symbol
from shared.storage.documents import Document, DocumentStore

CONTAINER = "watchlists"
SHOWN = 50
"""At most this many left-out symbols are listed in health bodies (the count is exact)."""


@dataclass(frozen=True)
class SymbolSelection:
    """What a capacity serves (`selected`, in priority order) and what it leaves out."""

    selected: list[str]
    left_out: list[str]
    capacity: int | None
    watchers: dict[str, int] = field(default_factory=dict)
    accounts: int = 0
    invalid: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The health view: counts, and the first `SHOWN` symbols left out."""
        return {
            "capacity": self.capacity,
            "wanted": len(self.selected) + len(self.left_out),
            "selected": len(self.selected),
            "leftOutCount": len(self.left_out),
            "leftOut": self.left_out[:SHOWN],
            "accountsWatching": self.accounts,
            "invalidEntries": self.invalid,
        }


def _canonical(entry: object) -> str | None:
    text = entry.get("symbol", "") if isinstance(entry, dict) else entry
    try:
        return parse_symbol(str(text)).text
    except InvalidInput:
        return None


def _kind(symbol: str) -> str:
    return parse_symbol(symbol).kind


def _oldest_first(docs: list[Document]) -> list[Document]:
    return sorted(docs, key=lambda d: (str(d.get("createdAt") or ""), str(d.get("id"))))


def symbols_of(docs: Iterable[Document]) -> tuple[list[str], int]:
    """The distinct valid symbols of watchlist documents, in their order (list by list, then
    list order); and how many entries were not symbols."""
    found: dict[str, None] = {}
    invalid = 0
    for doc in docs:
        entries = doc.get("symbols")
        if not isinstance(entries, list):
            continue
        for entry in entries:
            symbol = _canonical(entry)
            if symbol is None:
                invalid += 1
            else:
                found.setdefault(symbol, None)
    return list(found), invalid


def watch_demand(store: DocumentStore) -> tuple[dict[str, list[str]], int]:
    """Per account, the valid symbols of its watchlists in its own order (oldest watchlist
    first, then list order, duplicates dropped); and how many entries were not symbols."""
    per_account: dict[str, list[Document]] = defaultdict(list)
    for doc in _oldest_first(store.query_all(CONTAINER, None)):
        per_account[str(doc.get("pk"))].append(doc)
    demand: dict[str, list[str]] = {}
    invalid = 0
    for account, docs in per_account.items():
        symbols, bad = symbols_of(docs)
        invalid += bad
        if symbols:
            demand[account] = symbols
    return demand, invalid


def watched_by(store: DocumentStore, account: str) -> list[str]:
    """The symbols `account` watches, in its own order (as in `watch_demand`)."""
    return symbols_of(_oldest_first(store.query_all(CONTAINER, account)))[0]


def select_symbols(
    demand: Mapping[str, Sequence[str]],
    defaults: Iterable[str],
    capacity: int | None,
    *,
    invalid: int = 0,
    skip_kinds: frozenset[str] = frozenset(),
) -> SymbolSelection:
    """The symbols `capacity` (None: unlimited) serves: defaults, then by number of distinct
    accounts watching, then round-robin over accounts (see the module docstring). Symbols of
    a kind in `skip_kinds` (e.g. FX for the relay) are neither served nor left out."""
    if skip_kinds:
        demand = {
            account: [s for s in symbols if _kind(s) not in skip_kinds]
            for account, symbols in demand.items()
        }
    order: list[str] = []
    for entry in defaults:
        symbol = _canonical(entry)
        if symbol is not None and symbol not in order and _kind(symbol) not in skip_kinds:
            order.append(symbol)
    chosen = set(order)
    watchers: dict[str, int] = defaultdict(int)
    for symbols in demand.values():
        for symbol in set(symbols):
            watchers[symbol] += 1
    # each account's queue per tier (= number of accounts watching), accounts in id order
    tiers: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for account in sorted(demand):
        for symbol in demand[account]:
            if symbol not in chosen:
                tiers[watchers[symbol]].setdefault(account, []).append(symbol)
    for tier in sorted(tiers, reverse=True):
        # round-robin: each account in turn takes its next symbol not yet taken; an
        # account whose queue runs out leaves the rotation. O(entries) in all.
        turns = deque(iter(queue) for queue in tiers[tier].values())
        while turns:
            queue = turns.popleft()
            for symbol in queue:
                if symbol not in chosen:
                    chosen.add(symbol)
                    order.append(symbol)
                    turns.append(queue)
                    break
    cut = len(order) if capacity is None else max(capacity, 0)
    return SymbolSelection(
        selected=order[:cut],
        left_out=order[cut:],
        capacity=capacity,
        watchers=dict(watchers),
        accounts=len(demand),
        invalid=invalid,
    )


def select_watched(
    store: DocumentStore | None,
    defaults: Iterable[str],
    capacity: int | None,
    *,
    skip_kinds: frozenset[str] = frozenset(),
) -> SymbolSelection:
    """`select_symbols` over every account's watchlists in `store` (None: defaults only)."""
    demand, invalid = watch_demand(store) if store is not None else ({}, 0)
    return select_symbols(demand, defaults, capacity, invalid=invalid, skip_kinds=skip_kinds)
