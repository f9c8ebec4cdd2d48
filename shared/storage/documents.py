"""The `DocumentStore` port: JSON documents in named containers, partitioned by `pk`.

Every document carries `id` and `pk` (the partition key; every container's key path is
`/pk`). Stores add `_etag` (opaque version) and `_ts` (epoch seconds of the last write).
A document with an integer `ttl` (seconds) disappears `ttl` seconds after its last write.

`DocumentStore.update` is the one read-modify-write under an etag: every module that changes
a stored document from what it read goes through it (no hand-written retry loops).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import stamina

from shared.errors import Conflict, NotFound, PreconditionFailed

Document = dict[str, Any]
FilterOp = Literal["=", "!=", "<", "<=", ">", ">=", "in", "contains"]
Change = Callable[[Document], Document | None]
"""What `DocumentStore.update` applies: the current content (a copy without system fields,
free to mutate) to the new content, or None for "leave the document as it is"."""

UPDATE_ATTEMPTS = 100
"""Default bound on `DocumentStore.update`'s tries (each a read and a conditional write)."""
UPDATE_TIMEOUT = 30.0
"""Default bound in seconds on the time `DocumentStore.update` spends retrying."""


def content(doc: Document) -> Document:
    """A document without the store's system fields (`_etag`, `_ts`, ...): what to write back."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


class DocumentNotFound(NotFound):
    """No document with that id in that partition."""


class StaleEtag(PreconditionFailed):
    """The `if_match` etag is not the document's current etag: someone wrote it first."""


class UpdateContended(Conflict):
    """`DocumentStore.update` lost the race for a document on every allowed attempt: the
    change was NOT written (never silently dropped); the caller may retry later."""


class _Raced(Exception):
    """One attempt of `DocumentStore.update` lost a race (retried; never escapes)."""


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

    def update(
        self,
        container: str,
        id: str,
        pk: str,
        change: Change,
        *,
        if_match: str | None = None,
        default: Document | None = None,
        attempts: int = UPDATE_ATTEMPTS,
        timeout: float = UPDATE_TIMEOUT,
    ) -> Document | None:
        """Read the document, apply `change`, write the result only if nobody wrote in between
        (etag); on a lost race read again and re-apply `change` (stamina backoff: 2 ms doubling
        to 50 ms, jittered). Returns the stored document, or None if `change` returned None.

        `change` may run several times, so it must be a pure function of the document (raise
        from it to abort: the exception propagates unchanged and nothing is written).

        - Missing document: with `default` (a content with this `id` and `pk`) `change` is
          applied to a copy of it and the result is created (a racing create is a lost race);
          without `default`, `DocumentNotFound`.
        - `if_match`: the version the caller saw (an HTTP `If-Match`). Then there is exactly
          one attempt: `StaleEtag` if the document is (or, by the write, was) at another
          version, `DocumentNotFound` if it is gone when read (`default` is not used).
        - Bound: after `attempts` tries or `timeout` seconds of lost races, `UpdateContended`
          (a 409): an update is never dropped silently.
        """
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        pinned = if_match is not None
        try:
            for attempt in stamina.retry_context(
                on=_Raced,
                attempts=1 if pinned else attempts,
                timeout=timeout,
                wait_initial=0.002,
                wait_max=0.05,
                wait_jitter=0.02,
            ):
                with attempt:
                    return self._update_once(container, id, pk, change, if_match, default)
        except _Raced as lost:
            if pinned:
                raise StaleEtag(f"{container}/{id} changed since version {if_match}") from None
            raise UpdateContended(
                f"{container}/{id} kept changing: not updated after {attempts} attempts "
                f"or {timeout:g} s; retry"
            ) from lost
        raise AssertionError("unreachable")  # pragma: no cover

    def _update_once(
        self,
        container: str,
        id: str,
        pk: str,
        change: Change,
        if_match: str | None,
        default: Document | None,
    ) -> Document | None:
        """One read-change-write; `_Raced` when another writer got there first."""
        try:
            current: Document | None = self.read(container, id, pk)
        except DocumentNotFound:
            if if_match is not None or default is None:
                raise
            current = None
        if current is not None and if_match is not None and current.get("_etag") != if_match:
            raise StaleEtag(
                f"{container}/{id} was changed by someone else (it is no longer at version"
                f" {if_match}); re-read it and retry"
            )
        base = content(current) if current is not None else dict(default or {})
        new = change(base)
        if new is None:
            return None
        if new.get("id") != id or new.get("pk") != pk:
            raise ValueError(f"a change must keep id {id!r} and pk {pk!r}")
        try:
            if current is None:
                return self.create(container, new)
            return self.upsert(container, new, if_match=str(current["_etag"]))
        except (StaleEtag, DocumentNotFound, Conflict) as lost:
            raise _Raced(str(lost)) from lost

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
