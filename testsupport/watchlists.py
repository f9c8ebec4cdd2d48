"""Watchlist documents for the fair-share tests of the API and of the relay."""

from __future__ import annotations

import string

from shared.storage.documents import DocumentStore


def junk(prefix: str, n: int) -> list[str]:
    """`n` distinct valid symbols starting with `prefix` (up to 26**3)."""
    a = string.ascii_uppercase
    return [f"{prefix}{a[i // 676]}{a[i // 26 % 26]}{a[i % 26]}" for i in range(n)]


def flood(store: DocumentStore, per_list: int) -> list[str]:
    """Mallory's five lists of `per_list` junk symbols, all sorting before NFLX and TSLA
    (written directly, as if made before the limits existed), and Bob's NFLX and TSLA.
    Returns the junk symbols."""
    symbols: list[str] = []
    for n in range(5):
        listed = junk("JKLMN"[n], per_list)
        symbols += listed
        store.upsert(
            "watchlists",
            {
                "id": f"m{n}",
                "pk": "mallory",
                "name": f"junk {n}",
                "symbols": listed,
                "createdAt": f"2026-01-01T00:00:0{n}+00:00",
            },
        )
    store.upsert(
        "watchlists",
        {
            "id": "b1",
            "pk": "bob",
            "name": "mine",
            "symbols": ["NFLX", "TSLA"],
            "createdAt": "2026-02-01T00:00:00+00:00",
        },
    )
    return symbols
