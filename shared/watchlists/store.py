"""Watchlist documents (container `watchlists`, pk = account id) and their rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from shared.api_model import ApiModel, Name
from shared.auth.caller import Caller
from shared.auth.scope import owned_page, read_owned
from shared.config import Settings
from shared.errors import InvalidInput
from shared.market.symbols import parse_symbols
from shared.storage.documents import Document, DocumentStore, content

CONTAINER = "watchlists"
MAX_SYMBOLS = 200


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
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        etag=doc.get("_etag", ""),
    )


class WatchlistStore:
    """CRUD of watchlists, scoped to the caller (admins see all)."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def create(self, caller: Caller, data: WatchlistIn) -> Watchlist:
        now = datetime.now(UTC).isoformat()
        doc: dict[str, Any] = {
            "id": f"wl-{uuid.uuid4().hex[:16]}",
            "pk": caller.account_id,
            "name": data.name,
            "symbols": data.symbols,
            "created_at": now,
            "updated_at": now,
        }
        return _to_model(self.store.create(CONTAINER, doc))

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
        updated = {
            **content(current),
            "name": data.name,
            "symbols": data.symbols,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        stored = self.store.upsert(CONTAINER, updated, if_match=if_match or current["_etag"])
        return _to_model(current), _to_model(stored)

    def delete(self, caller: Caller, watchlist_id: str, if_match: str | None) -> Watchlist:
        current = read_owned(self.store, CONTAINER, watchlist_id, caller, "watchlist")
        self.store.delete(CONTAINER, current["id"], current["pk"], if_match=if_match)
        return _to_model(current)


def watched_symbols(store: DocumentStore, settings: Settings) -> list[str]:
    """DEFAULT_SYMBOLS plus every symbol on any account's watchlist, in a stable order: what
    the ingestion timers pull and the relay subscribes to."""
    seen = dict.fromkeys(settings.default_symbols)
    for doc in store.query_all(CONTAINER, None, order_by="created_at"):
        seen.update(dict.fromkeys(doc.get("symbols", [])))
    return list(seen)
