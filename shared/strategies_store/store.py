"""Strategy documents (container `strategies`, pk = account id), one per version.

A strategy is a head document (`id` = strategy id) holding the latest version, plus one
immutable document per version (`id` = `<strategy id>@v<n>`). An update bumps the head with
its etag first, then writes the version document, so two racing updates cannot both become
version n. Deleting hides the head; version documents stay, because a backtest records the
version it ran and must still find it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, model_validator

from shared.api_model import ApiModel, Name
from shared.auth.caller import Caller
from shared.auth.scope import owned_page, read_owned
from shared.backtest.spec import TRUSTED, StrategySpec
from shared.backtest.strategies import get_strategy
from shared.errors import NotFound
from shared.storage.documents import (
    Change,
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
)

CONTAINER = "strategies"


class StrategyIn(ApiModel):
    """A strategy as a client sends it: a name and a `StrategySpec`. The spec is checked as
    every entry point checks it (grid caps before expansion, the strategy's parameter
    declaration) and must have at least one valid combination."""

    name: Name
    description: str = Field("", max_length=2000)
    spec: StrategySpec

    @model_validator(mode="after")
    def _some_valid_combination(self) -> StrategyIn:
        if self.spec.grid:
            # counted on arrays (a grid at the cap is ~0.5 s of Python as dicts); if none is
            # valid, building them (none) raises `NoValidCombination` naming the relation
            if get_strategy(self.spec.strategy).count_combinations(self.spec) == 0:
                self.spec.n_combinations()
        else:
            get_strategy(self.spec.strategy).check(self.spec.params)
        return self


class Strategy(ApiModel):
    """A saved strategy at its latest version."""

    id: str
    account: str
    name: str
    description: str
    version: int = Field(description="Latest version; every update adds one.")
    spec: StrategySpec
    created_at: datetime
    updated_at: datetime
    etag: str = Field(description="Send it back in If-Match to update only this version.")


class StrategyVersion(ApiModel):
    """One immutable version of a strategy."""

    strategy_id: str
    account: str
    version: int
    name: str
    description: str
    spec: StrategySpec
    created_at: datetime


def _head(doc: Document) -> Strategy:
    return Strategy(
        id=doc["id"],
        account=doc["pk"],
        name=doc["name"],
        description=doc.get("description", ""),
        version=doc["version"],
        spec=StrategySpec.model_validate(doc["spec"], context=TRUSTED),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        etag=doc.get("_etag", ""),
    )


def _version(doc: Document) -> StrategyVersion:
    return StrategyVersion(
        strategy_id=doc["strategyId"],
        account=doc["pk"],
        version=doc["version"],
        name=doc["name"],
        description=doc.get("description", ""),
        spec=StrategySpec.model_validate(doc["spec"], context=TRUSTED),
        created_at=doc["createdAt"],
    )


def version_id(strategy_id: str, version: int) -> str:
    return f"{strategy_id}@v{version}"


class StrategyStore:
    """CRUD and version history of strategies, scoped to the caller (admins see all)."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def _write_version(self, head: Document) -> Document:
        return self.store.upsert(
            CONTAINER,
            {
                "id": version_id(head["id"], head["version"]),
                "pk": head["pk"],
                "kind": "version",
                "strategyId": head["id"],
                "version": head["version"],
                "name": head["name"],
                "description": head["description"],
                "spec": head["spec"],
                "createdAt": head["updatedAt"],
            },
        )

    def _live_head(self, caller: Caller, strategy_id: str) -> Document:
        if "@" in strategy_id:
            raise NotFound(f"strategy {strategy_id!r} not found")
        doc = read_owned(self.store, CONTAINER, strategy_id, caller, "strategy")
        if doc.get("kind") != "head" or doc.get("deleted"):
            raise NotFound(f"strategy {strategy_id!r} not found")
        return doc

    def create(self, caller: Caller, data: StrategyIn) -> Strategy:
        now = datetime.now(UTC).isoformat()
        head: dict[str, Any] = {
            "id": f"st-{uuid.uuid4().hex[:16]}",
            "pk": caller.account_id,
            "kind": "head",
            "name": data.name,
            "description": data.description,
            "version": 1,
            "spec": data.spec.model_dump(mode="json"),
            "createdAt": now,
            "updatedAt": now,
            "deleted": False,
        }
        stored = self.store.create(CONTAINER, head)
        self._write_version(stored)
        return _head(stored)

    def get(self, caller: Caller, strategy_id: str) -> Strategy:
        return _head(self._live_head(caller, strategy_id))

    def list_page(
        self, caller: Caller, *, account: str | None, limit: int, continuation: str | None
    ) -> tuple[list[Strategy], str | None]:
        page = owned_page(
            self.store,
            CONTAINER,
            caller,
            account,
            [Filter("kind", "=", "head"), Filter("deleted", "=", False)],
            limit=limit,
            continuation=continuation,
        )
        return [_head(doc) for doc in page.items], page.continuation

    def update(
        self, caller: Caller, strategy_id: str, data: StrategyIn, if_match: str | None
    ) -> Strategy:
        """A new version; `StaleEtag` if `if_match` is not the current version (without it,
        a racing update is re-read and this one becomes the version after it)."""
        _current, stored = self._change_head(
            caller,
            strategy_id,
            if_match,
            lambda head: {
                **head,
                "name": data.name,
                "description": data.description,
                "spec": data.spec.model_dump(mode="json"),
                "version": head["version"] + 1,
                "updatedAt": datetime.now(UTC).isoformat(),
            },
        )
        self._write_version(stored)
        return _head(stored)

    def delete(self, caller: Caller, strategy_id: str, if_match: str | None) -> Strategy:
        current, _stored = self._change_head(
            caller,
            strategy_id,
            if_match,
            lambda head: {**head, "deleted": True, "updatedAt": datetime.now(UTC).isoformat()},
        )
        return _head(current)

    def _change_head(
        self, caller: Caller, strategy_id: str, if_match: str | None, change: Change
    ) -> tuple[Document, Document]:
        """`change` applied to the live head under its etag (`DocumentStore.update`):
        (the head as first read, the head stored)."""
        current = self._live_head(caller, strategy_id)

        def live(head: Document) -> Document | None:
            if head.get("kind") != "head" or head.get("deleted"):
                raise NotFound(f"strategy {strategy_id!r} not found")
            return change(head)

        stored = self.store.update(CONTAINER, strategy_id, current["pk"], live, if_match=if_match)
        assert stored is not None  # `change` always returns a document
        return current, stored

    def versions(
        self, caller: Caller, strategy_id: str, *, limit: int, continuation: str | None
    ) -> tuple[list[StrategyVersion], str | None]:
        head = self._live_head(caller, strategy_id)
        page = self.store.query(
            CONTAINER,
            head["pk"],
            [Filter("kind", "=", "version"), Filter("strategyId", "=", head["id"])],
            order_by="version",
            limit=limit,
            continuation=continuation,
        )
        return [_version(doc) for doc in page.items], page.continuation

    def version(self, caller: Caller, strategy_id: str, version: int) -> StrategyVersion:
        """One version; the head's own version is rewritten if its copy was never stored
        (an update that failed between writing the head and the version)."""
        head = self._live_head(caller, strategy_id)
        try:
            return self.get_version(head["pk"], head["id"], version)
        except NotFound:
            if version != head["version"]:
                raise
            return _version(self._write_version(head))

    def get_version(self, account: str, strategy_id: str, version: int) -> StrategyVersion:
        """A version by owner, even of a deleted strategy (what a backtest ran)."""
        try:
            doc = self.store.read(CONTAINER, version_id(strategy_id, version), account)
        except DocumentNotFound:
            raise NotFound(f"strategy {strategy_id!r} has no version {version}") from None
        return _version(doc)
