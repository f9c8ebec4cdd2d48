"""The `DocumentStore` port: JSON documents in named containers, partitioned by `pk`.

Every document carries `id` and `pk` (the partition key; every container's key path is
`/pk`). Stores add `_etag` (opaque version) and `_ts` (epoch seconds of the last write).
A document with an integer `ttl` (seconds) disappears `ttl` seconds after its last write.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from shared.errors import NotFound, PreconditionFailed

Document = dict[str, Any]
FilterOp = Literal["=", "!=", "<", "<=", ">", ">=", "in", "contains"]


def content(doc: Document) -> Document:
    """A document without the store's system fields (`_etag`, `_ts`, ...): what to write back."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


class DocumentNotFound(NotFound):
    """No document with that id in that partition."""


class StaleEtag(PreconditionFailed):
    """The `if_match` etag is not the document's current etag: someone wrote it first."""


@dataclass(frozen=True)
class Filter:
    """`field op value` on a top-level (or dotted nested) field of the document.

    `in` takes a list; `contains` means an array field contains the value.
    """

    field: str
    op: FilterOp
    value: Any


@dataclass(frozen=True)
class PatchOp:
    """A Cosmos-style patch operation: set / add / replace / remove / incr on `/path`."""

    op: Literal["set", "add", "replace", "remove", "incr"]
    path: str
    value: Any = None


@dataclass
class Page:
    items: list[Document]
    continuation: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """A container the suite uses, with the default TTL (seconds, -1 = per-item only)."""

    name: str
    default_ttl: int | None = -1
    description: str = ""


CONTAINERS: dict[str, ContainerSpec] = {
    spec.name: spec
    for spec in (
        ContainerSpec("quotes", description="latest quote per symbol; pk = symbol"),
        ContainerSpec("sync_state", description="ingestion state; pk = provider"),
        ContainerSpec("quota", description="token buckets; pk = provider"),
        ContainerSpec("watchlists", description="pk = account id"),
        ContainerSpec("strategies", description="versioned StrategySpec; pk = account id"),
        ContainerSpec("backtests", description="run metadata; pk = account id"),
        ContainerSpec("paper", description="paper accounts, orders, positions; pk = account id"),
        ContainerSpec("journal", description="executions, trade annotations; pk = account id"),
        ContainerSpec("idempotency", description="Idempotency-Key records; pk = account id"),
        ContainerSpec("audit", description="append-only audit records; pk = yyyy-mm"),
        ContainerSpec("relay", description="relay state and archive checkpoints; pk = relay"),
        ContainerSpec("durable", description="local host orchestration state; pk = instance"),
    )
}


class DocumentStore(ABC):
    """Documents in containers; every operation names the container."""

    @abstractmethod
    def create(self, container: str, item: Document) -> Document:
        """Insert; `shared.errors.Conflict` if (`pk`, `id`) exists. Returns the stored doc."""

    @abstractmethod
    def upsert(self, container: str, item: Document, *, if_match: str | None = None) -> Document:
        """Insert or replace. With `if_match`, replace only if the etag is current
        (`StaleEtag` otherwise, `DocumentNotFound` if the document is gone)."""

    @abstractmethod
    def read(self, container: str, id: str, pk: str) -> Document:
        """The document; `DocumentNotFound` if absent or expired."""

    @abstractmethod
    def query(
        self,
        container: str,
        pk: str | None,
        filters: list[Filter] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        continuation: str | None = None,
    ) -> Page:
        """Documents matching every filter, within partition `pk` (None = all partitions).

        Returns at most `limit` items and a continuation token for the next page."""

    @abstractmethod
    def patch(
        self,
        container: str,
        id: str,
        pk: str,
        operations: list[PatchOp],
        *,
        if_match: str | None = None,
    ) -> Document:
        """Apply patch operations atomically; `StaleEtag` / `DocumentNotFound` as above."""

    @abstractmethod
    def delete(self, container: str, id: str, pk: str, *, if_match: str | None = None) -> bool:
        """Delete; True if it existed. `StaleEtag` if `if_match` is not current."""

    @abstractmethod
    def ping(self) -> None:
        """Raise `shared.errors.Unavailable` if the store cannot be reached."""

    def query_all(
        self,
        container: str,
        pk: str | None,
        filters: list[Filter] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
    ) -> list[Document]:
        """Every page of `query`, concatenated."""
        items: list[Document] = []
        token: str | None = None
        while True:
            page = self.query(
                container,
                pk,
                filters,
                order_by=order_by,
                descending=descending,
                continuation=token,
                limit=500,
            )
            items.extend(page.items)
            token = page.continuation
            if not token:
                return items
