"""Watchlist documents (container `watchlists`, pk = account id) and their rules.

Per account, at most WATCHLISTS_PER_ACCOUNT lists and WATCHLIST_SYMBOLS_PER_ACCOUNT distinct
symbols across them. A write is checked before it is made and again after (two racing writes
can each pass the first check): one found over the limit afterwards is undone and refused,
so the stored total never stays above a limit.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from shared.api_model import ApiModel, Name
from shared.auth.caller import Caller
from shared.auth.scope import owned_page, read_owned
from shared.config import Settings, get_settings
from shared.errors import InvalidInput, LimitExceeded
from shared.market.symbols import parse_symbols
from shared.storage.documents import Document, DocumentStore, StaleEtag
from shared.watchlists.selection import CONTAINER, symbols_of

MAX_SYMBOLS = 200
"""Most symbols in one request body (the per-account limit is a setting)."""


class WatchlistIn(ApiModel):
    """A watchlist as a client sends it; symbols are normalized (AAPL, BRK.B, ^GSPC, BTC-USD)."""

    name: Name
    symbols: list[str] = Field(default_factory=list, max_length=MAX_SYMBOLS)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        try:
            return [symbol.text for symbol in parse_symbols(value)]
        except InvalidInput as error:
            raise ValueError(error.detail) from None


class Watchlist(ApiModel):
    """A stored watchlist."""

    id: str
    account: str
    name: str
    symbols: list[str]
    created_at: datetime
    updated_at: datetime
    etag: str = Field(description="Send it back in If-Match to update only this version.")


def _to_model(doc: Document) -> Watchlist:
    return Watchlist(
        id=doc["id"],
        account=doc["pk"],
        name=doc["name"],
        symbols=doc["symbols"],
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        etag=doc.get("_etag", ""),
    )


class WatchlistStore:
    """CRUD of watchlists, scoped to the caller (admins see all), within per-account limits."""

    def __init__(self, store: DocumentStore, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or get_settings()

    # --- limits ---------------------------------------------------------------------------
    def _lists(self, account: str) -> list[Document]:
        return self.store.query_all(CONTAINER, account)

    def _check(self, account: str, *, new_list: bool, change: tuple[str, list[str]] | None) -> None:
        """Refuse a write that would take `account` over a limit: one more list (`new_list`),
        or `change` = (watchlist id, its new symbols). A change that does not add symbols is
        always allowed (an account already over a lowered limit can still shrink)."""
        lists = self._lists(account)
        limit = self.settings.watchlists_per_account
        if new_list and len(lists) >= limit:
            raise LimitExceeded(
                f"an account may keep at most {limit} watchlists (WATCHLISTS_PER_ACCOUNT); "
                "delete one or add symbols to an existing list",
                limit=limit,
                setting="WATCHLISTS_PER_ACCOUNT",
            )
        if change is None:
            return
        changed_id, symbols = change
        before = set(symbols_of(lists)[0])
        after = set(symbols_of([doc for doc in lists if doc["id"] != changed_id])[0])
        after.update(symbols)
        limit = self.settings.watchlist_symbols_per_account
        if len(after) > limit and len(after) > len(before):
            raise LimitExceeded(
                f"an account may watch at most {limit} distinct symbols across its watchlists "
                f"(WATCHLIST_SYMBOLS_PER_ACCOUNT); this change makes {len(after)}",
                limit=limit,
                setting="WATCHLIST_SYMBOLS_PER_ACCOUNT",
            )

    def _over(self, account: str, *, lists_grew: bool, symbols_grew: bool) -> LimitExceeded | None:
        """The limit `account` is over now, if any, among those the write could have crossed
        (the check after a write)."""
        lists = self._lists(account)
        if lists_grew and len(lists) > self.settings.watchlists_per_account:
            limit = self.settings.watchlists_per_account
            return LimitExceeded(
                f"an account may keep at most {limit} watchlists (WATCHLISTS_PER_ACCOUNT)",
                limit=limit,
                setting="WATCHLISTS_PER_ACCOUNT",
            )
        symbols = symbols_of(lists)[0]
        if symbols_grew and len(symbols) > self.settings.watchlist_symbols_per_account:
            limit = self.settings.watchlist_symbols_per_account
            return LimitExceeded(
                f"an account may watch at most {limit} distinct symbols across its watchlists "
                "(WATCHLIST_SYMBOLS_PER_ACCOUNT)",
                limit=limit,
                setting="WATCHLIST_SYMBOLS_PER_ACCOUNT",
            )
        return None

    # --- CRUD -----------------------------------------------------------------------------
    def create(self, caller: Caller, data: WatchlistIn) -> Watchlist:
        account = caller.account_id
        doc_id = f"wl-{uuid.uuid4().hex[:16]}"
        self._check(account, new_list=True, change=(doc_id, data.symbols))
        now = datetime.now(UTC).isoformat()
        doc: dict[str, Any] = {
            "id": doc_id,
            "pk": account,
            "name": data.name,
            "symbols": data.symbols,
            "createdAt": now,
            "updatedAt": now,
        }
        created = self.store.create(CONTAINER, doc)
        over = self._over(account, lists_grew=True, symbols_grew=bool(data.symbols))
        if over is not None:
            self.store.delete(CONTAINER, doc_id, account)
            raise over
        return _to_model(created)

    def get(self, caller: Caller, watchlist_id: str) -> Watchlist:
        return _to_model(read_owned(self.store, CONTAINER, watchlist_id, caller, "watchlist"))

    def list_page(
        self, caller: Caller, *, account: str | None, limit: int, continuation: str | None
    ) -> tuple[list[Watchlist], str | None]:
        page = owned_page(
            self.store, CONTAINER, caller, account, limit=limit, continuation=continuation
        )
        return [_to_model(doc) for doc in page.items], page.continuation

    def replace(
        self, caller: Caller, watchlist_id: str, data: WatchlistIn, if_match: str | None
    ) -> tuple[Watchlist, Watchlist]:
        """Replace name and symbols; returns (before, after). `StaleEtag` if `if_match` lost."""
        current = read_owned(self.store, CONTAINER, watchlist_id, caller, "watchlist")
        account = current["pk"]
        self._check(account, new_list=False, change=(current["id"], data.symbols))
        before: list[Document] = []

        def change(doc: Document) -> Document:
            before[:] = [doc]
            return {
                **doc,
                "name": data.name,
                "symbols": data.symbols,
                "updatedAt": datetime.now(UTC).isoformat(),
            }

        stored = self.store.update(CONTAINER, current["id"], account, change, if_match=if_match)
        assert stored is not None  # `change` always returns a document
        previous = before[-1]
        grew = bool(set(data.symbols) - set(previous.get("symbols", [])))
        over = self._over(account, lists_grew=False, symbols_grew=grew)
        if over is not None:
            # undo, unless it changed again meanwhile (that write was checked on its own)
            with contextlib.suppress(StaleEtag):
                self.store.upsert(CONTAINER, previous, if_match=stored["_etag"])
            raise over
        return _to_model(current), _to_model(stored)

    def delete(self, caller: Caller, watchlist_id: str, if_match: str | None) -> Watchlist:
        current = read_owned(self.store, CONTAINER, watchlist_id, caller, "watchlist")
        self.store.delete(CONTAINER, current["id"], current["pk"], if_match=if_match)
        return _to_model(current)
