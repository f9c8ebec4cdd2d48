"""The journal's storage: executions and annotations in the document store (the source of
truth, container `journal`, pk = account id) and the per-account columnar snapshot of
trades (one Arrow IPC blob in the lake container, plus an in-process copy) that analytics read.

Every write bumps the account's journal version (an etag-guarded counter document); the
snapshot carries the version it was built at. A snapshot whose version is not current is
rebuilt from the documents, so a lost race or a crash between the two writes can make a
read slower, never wrong. A write updates the snapshot incrementally: only the
(broker account, symbol) groups it touched are matched again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from shared.errors import Conflict, InvalidInput
from shared.journal import snapshot
from shared.journal.matching import match
from shared.journal.models import Annotation, AnnotationIn, Execution, ExecutionIn, Source, Trade
from shared.storage.blob import BlobNotFound, BlobStore
from shared.storage.documents import (
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
    PatchOp,
    StaleEtag,
    content,
)

log = logging.getLogger("shared.journal")

CONTAINER = "journal"
VERSION_ID = "journal-version"
MAX_EXECUTIONS_PER_ACCOUNT = 1_000_000

_cache: dict[tuple[str, str], snapshot.TradeFrame] = {}
_cache_lock = threading.Lock()


_EXECUTION_FIELDS = {field.alias or name: name for name, field in Execution.model_fields.items()}
"""An execution document's keys (camelCase, as the API spells them) to the model's fields."""


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).astimezone(UTC)


def _execution(doc: Document) -> Execution:
    """An execution document as the model, without validating it again: only the
    journal writes these documents, from validated models (reading 100,000 of them
    through the validators took seconds)."""
    fields = {_EXECUTION_FIELDS[k]: v for k, v in doc.items() if k in _EXECUTION_FIELDS}
    for name in ("executed_at", "created_at", "updated_at"):
        fields[name] = _time(fields.get(name))
    fields["account"] = doc["pk"]
    fields["etag"] = doc.get("_etag", "")
    return Execution.model_construct(**fields)


def _annotation(doc: Document) -> Annotation:
    fields = {k: v for k, v in content(doc).items() if k not in ("pk", "kind", "id")}
    return Annotation.model_validate({**fields, "account": doc["pk"], "etag": doc.get("_etag", "")})


def annotation_document(
    account: str, trade_id: str, data: AnnotationIn, screenshots: list[str], at: str
) -> Document:
    """The `journal` document of a trade's annotation (id `a-<trade id>`): its one shape."""
    return {
        **data.model_dump(mode="json", by_alias=True),
        "id": f"a-{trade_id}",
        "pk": account,
        "kind": "annotation",
        "tradeId": trade_id,
        "screenshots": screenshots,
        "updatedAt": at,
    }


def group_key(broker_account: str, symbol: str) -> str:
    """What an execution document carries to find its (broker account, symbol) with one
    filter (only execution documents have it; one JSON field is a third of the work of
    three on SQLite, which parses the document for every filtered field)."""
    return f"{broker_account}|{symbol}"


@dataclass(frozen=True)
class WriteResult:
    added: int
    duplicates: int
    version: int
    ids: list[str]


class Journal:
    """One account's journal."""

    def __init__(self, docs: DocumentStore, blobs: BlobStore | None, account: str) -> None:
        self.docs = docs
        self.blobs = blobs
        self.account = account

    # --- version --------------------------------------------------------------------
    def version(self) -> int:
        try:
            return int(self.docs.read(CONTAINER, VERSION_ID, self.account).get("version", 0))
        except DocumentNotFound:
            return 0

    def _bump(self) -> int:
        try:
            doc = self.docs.patch(
                CONTAINER, VERSION_ID, self.account, [PatchOp("incr", "/version", 1)]
            )
            return int(doc["version"])
        except DocumentNotFound:
            try:
                self.docs.create(
                    CONTAINER,
                    {"id": VERSION_ID, "pk": self.account, "kind": "version", "version": 1},
                )
                return 1
            except Conflict:
                return self._bump()

    # --- executions -----------------------------------------------------------------
    def add(
        self,
        items: Sequence[ExecutionIn],
        source: Source,
        *,
        import_id: str | None = None,
        ids: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> WriteResult:
        """Store executions; one that is already stored (same id) is counted, not added.

        `ids` overrides the derived ids (importers pass content keys with an occurrence
        number, so two identical fills in one file stay two)."""
        now = datetime.now(UTC).isoformat()
        added = duplicates = 0
        written: list[str] = []
        groups: set[tuple[str, str]] = set()
        for index, item in enumerate(items):
            if ids is not None:
                exec_id = ids[index]
            elif item.external_id or source != "manual":
                exec_id = item.execution_id(source)
            else:
                exec_id = f"x-{uuid.uuid4().hex[:24]}"
            written.append(exec_id)
            doc = {
                **item.model_dump(mode="json", by_alias=True),
                "id": exec_id,
                "pk": self.account,
                "kind": "execution",
                "group": group_key(item.broker_account, item.symbol),
                "source": source,
                "importId": import_id,
                "createdAt": now,
            }
            try:
                self.docs.create(CONTAINER, doc)
            except Conflict:
                duplicates += 1
                if progress is not None and (index + 1) % 100 == 0:
                    progress(index + 1)
                continue
            added += 1
            groups.add((item.broker_account, item.symbol))
            if progress is not None and (index + 1) % 100 == 0:
                progress(index + 1)
        if progress is not None:
            progress(len(items))
        version = self._refresh(groups) if added else self.version()
        return WriteResult(added=added, duplicates=duplicates, version=version, ids=written)

    def get(self, execution_id: str) -> Execution:
        try:
            doc = self.docs.read(CONTAINER, execution_id, self.account)
        except DocumentNotFound:
            raise DocumentNotFound(f"execution {execution_id!r} not found") from None
        if doc.get("kind") != "execution":
            raise DocumentNotFound(f"execution {execution_id!r} not found")
        return _execution(doc)

    def replace(
        self, execution_id: str, data: ExecutionIn, if_match: str | None
    ) -> tuple[Execution, Execution]:
        before: list[Execution] = []

        def change(doc: Document) -> Document:
            if doc.get("kind") != "execution":
                raise DocumentNotFound(f"execution {execution_id!r} not found")
            before[:] = [_execution(doc)]
            return {
                **doc,
                **data.model_dump(mode="json", by_alias=True),
                "group": group_key(data.broker_account, data.symbol),
                "updatedAt": datetime.now(UTC).isoformat(),
            }

        try:
            stored = self.docs.update(
                CONTAINER, execution_id, self.account, change, if_match=if_match
            )
        except DocumentNotFound:
            raise DocumentNotFound(f"execution {execution_id!r} not found") from None
        assert stored is not None
        current = before[-1]
        self._refresh(
            {(current.broker_account, current.symbol), (data.broker_account, data.symbol)}
        )
        return current, _execution(stored)

    def delete(self, execution_id: str, if_match: str | None) -> Execution:
        current = self.get(execution_id)
        self.docs.delete(CONTAINER, execution_id, self.account, if_match=if_match)
        self._refresh({(current.broker_account, current.symbol)})
        return current

    def executions(
        self,
        filters: list[Filter] | None = None,
        *,
        limit: int | None = None,
        continuation: str | None = None,
    ) -> tuple[list[Execution], str | None]:
        page = self.docs.query(
            CONTAINER,
            self.account,
            [Filter("kind", "=", "execution"), *(filters or [])],
            order_by="executedAt",
            limit=limit,
            continuation=continuation,
        )
        return [_execution(doc) for doc in page.items], page.continuation

    def _every(self, filters: list[Filter]) -> list[Document]:
        """Every matching document in one query (no paging: paged reads of a 100,000
        document partition cost minutes on SQLite, one query seconds)."""
        return self.docs.query(CONTAINER, self.account, filters).items

    def all_executions(self, groups: Iterable[tuple[str, str]] | None = None) -> list[Execution]:
        if groups is None:
            docs = self._every([Filter("kind", "=", "execution")])
            return [_execution(doc) for doc in docs]
        found: list[Execution] = []
        for broker_account, symbol in sorted(groups):
            docs = self._every([Filter("group", "=", group_key(broker_account, symbol))])
            found.extend(_execution(doc) for doc in docs)
        return found

    # --- imports --------------------------------------------------------------------
    def record_import(self, summary: dict[str, Any]) -> None:
        """Keep an import's summary (camelCase, as the API returns it); a re-import of
        the same file replaces it."""
        doc = {**summary, "id": summary["importId"], "pk": self.account, "kind": "import"}
        self.docs.upsert(CONTAINER, doc)

    def imports(self, limit: int = 50) -> list[dict[str, Any]]:
        page = self.docs.query(
            CONTAINER,
            self.account,
            [Filter("kind", "=", "import")],
            order_by="importedAt",
            descending=True,
            limit=limit,
        )
        return [
            {k: v for k, v in content(doc).items() if k not in ("id", "pk", "kind")}
            for doc in page.items
        ]

    # --- annotations ----------------------------------------------------------------
    def annotations(self, trade_ids: Sequence[str] | None = None) -> dict[str, Annotation]:
        """Annotations of `trade_ids` (point reads), or every annotation of the journal."""
        if trade_ids is None:
            docs = self._every([Filter("kind", "=", "annotation")])
        else:
            docs = []
            for trade_id in dict.fromkeys(trade_ids):
                try:
                    docs.append(self.docs.read(CONTAINER, f"a-{trade_id}", self.account))
                except DocumentNotFound:
                    continue
        return {doc["tradeId"]: _annotation(doc) for doc in docs}

    def annotate(self, trade_id: str, data: AnnotationIn, if_match: str | None) -> Annotation:
        """Write the annotation of a trade the journal has (404 otherwise)."""
        frame = self.frame()
        if frame.row_of(trade_id) is None:
            raise DocumentNotFound(f"trade {trade_id!r} not found")
        doc_id = f"a-{trade_id}"

        def change(current: Document) -> Document:
            return annotation_document(
                self.account,
                trade_id,
                data,
                current.get("screenshots", []),
                datetime.now(UTC).isoformat(),
            )

        try:
            stored = self.docs.update(
                CONTAINER,
                doc_id,
                self.account,
                change,
                if_match=if_match,
                default={"id": doc_id, "pk": self.account},
            )
        except DocumentNotFound:  # only with `if_match`: the version asked for is not there
            raise StaleEtag(f"trade {trade_id!r} has no annotation yet") from None
        assert stored is not None
        self._refresh_annotation(trade_id)
        return _annotation(stored)

    def annotate_many(self, notes: dict[str, AnnotationIn]) -> None:
        """Write annotations of trades without one (seeding), then one snapshot rebuild."""
        now = datetime.now(UTC).isoformat()
        for trade_id, data in notes.items():
            self.docs.upsert(CONTAINER, annotation_document(self.account, trade_id, data, [], now))
        self._save(self._build(), self._bump())

    # --- trades and the snapshot ----------------------------------------------------
    def trades(self) -> list[Trade]:
        """Every trade, matched from the documents (the slow, authoritative path)."""
        return match(self.all_executions())

    def _blob_name(self) -> str:
        return f"journal/{quote(self.account, safe='')}/trades.arrow"

    def _build(self) -> pa.Table:
        return snapshot.rows(self.trades(), self.annotations())

    def _save(self, table: pa.Table, version: int) -> snapshot.TradeFrame:
        frame = snapshot.TradeFrame(table, version)
        if self.blobs is not None:
            data = snapshot.to_arrow(table, version)
            self.blobs.put(
                self._blob_name(), data, content_type="application/vnd.apache.arrow.file"
            )
        with _cache_lock:
            _cache[(repr(self.docs), self.account)] = frame
        return frame

    def _cached(self) -> snapshot.TradeFrame | None:
        with _cache_lock:
            return _cache.get((repr(self.docs), self.account))

    def _stored(self) -> tuple[pa.Table, int] | None:
        if self.blobs is None:
            return None
        try:
            return snapshot.from_arrow(self.blobs.get(self._blob_name()))
        except BlobNotFound:
            return None

    def frame(self) -> snapshot.TradeFrame:
        """The snapshot at the current version: from memory, else the blob, else rebuilt."""
        version = self.version()
        cached = self._cached()
        if cached is not None and cached.version == version:
            return cached
        stored = self._stored()
        if stored is not None and stored[1] == version:
            frame = snapshot.TradeFrame(stored[0], version)
            with _cache_lock:
                _cache[(repr(self.docs), self.account)] = frame
            return frame
        return self._save(self._build(), version)

    def _previous(self, version: int) -> pa.Table | None:
        """The snapshot one write behind `version`, which an incremental update can extend."""
        cached = self._cached()
        if cached is not None and cached.version == version - 1:
            return cached.table
        stored = self._stored()
        if stored is not None and stored[1] == version - 1:
            return stored[0]
        return None

    def _refresh(self, groups: set[tuple[str, str]]) -> int:
        version = self._bump()
        previous = self._previous(version)
        if previous is None:
            self._save(self._build(), version)
        else:
            self._refresh_from(previous, groups, version)
        return version

    def _refresh_annotation(self, trade_id: str) -> None:
        version = self._bump()
        previous = self._previous(version)
        if previous is None:
            self._save(self._build(), version)
            return
        ids = previous.column("id").to_pylist()
        row = ids.index(trade_id) if trade_id in ids else -1
        if row < 0:
            self._save(self._build(), version)
            return
        key = (
            previous.column("broker_account")[row].as_py(),
            previous.column("symbol")[row].as_py(),
        )
        self._refresh_from(previous, {key}, version)

    def _refresh_from(self, previous: pa.Table, groups: set[tuple[str, str]], version: int) -> None:
        trades = match(self.all_executions(groups))
        notes = self.annotations([t.id for t in trades])
        table = snapshot.replace_groups(previous, sorted(groups), snapshot.rows(trades, notes))
        self._save(table, version)


def journal_for(docs: DocumentStore, blobs: BlobStore | None, account: str) -> Journal:
    if not account:
        raise InvalidInput("a journal needs an account id")
    return Journal(docs, blobs, account)


def forget_cache() -> None:
    """Drop every in-process snapshot (tests, the bench's cold runs)."""
    with _cache_lock:
        _cache.clear()


__all__ = ["CONTAINER", "Journal", "WriteResult", "forget_cache", "journal_for"]
