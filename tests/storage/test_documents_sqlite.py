"""SQLite-only guarantees: several processes writing one file stay consistent."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from shared.errors import InvalidInput
from shared.storage.documents import PatchOp, StaleEtag
from shared.storage.documents_sqlite import SqliteDocumentStore


def _bump(path: str, times: int) -> None:
    store = SqliteDocumentStore(Path(path))
    for _ in range(times):
        store.patch("counters", "ctr", "p", [PatchOp("incr", "/n", 1)])


def _claim(path: str, etag: str, index: int, results: multiprocessing.Queue[str]) -> None:
    store = SqliteDocumentStore(Path(path))
    try:
        store.upsert("counters", {"id": "lock", "pk": "p", "owner": index}, if_match=etag)
        results.put("won")
    except StaleEtag:
        results.put("stale")


def test_processes_increment_atomically(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite3"
    store = SqliteDocumentStore(path)
    store.upsert("counters", {"id": "ctr", "pk": "p", "n": 0})
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_bump, args=(str(path), 25)) for _ in range(3)]
    for worker in workers:
        worker.start()
    _bump(str(path), 25)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert store.read("counters", "ctr", "p")["n"] == 100


def test_processes_with_one_etag_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite3"
    store = SqliteDocumentStore(path)
    etag = store.upsert("counters", {"id": "lock", "pk": "p", "owner": None})["_etag"]
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[str] = context.Queue()
    workers = [
        context.Process(target=_claim, args=(str(path), etag, index, results)) for index in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    outcomes = sorted(results.get(timeout=5) for _ in workers)
    assert outcomes == ["stale", "stale", "stale", "won"]
    assert store.read("counters", "lock", "p")["owner"] in range(4)


def test_connection_survives_fork(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "docs.sqlite3")
    store.upsert("counters", {"id": "ctr", "pk": "p", "n": 0})
    context = multiprocessing.get_context("fork")
    worker = context.Process(
        target=lambda: store.patch("counters", "ctr", "p", [PatchOp("incr", "/n", 5)])
    )
    worker.start()
    worker.join(timeout=30)
    assert worker.exitcode == 0
    assert store.read("counters", "ctr", "p")["n"] == 5


def _pages(store: SqliteDocumentStore, **query: Any) -> list[str]:
    seen: list[str] = []
    token = None
    pk = query.pop("pk", None)
    while True:
        page = store.query("c", pk, **query, continuation=token)
        seen.extend(doc["id"] for doc in page.items)
        token = page.continuation
        if not token:
            return seen


def test_paging_matches_full_order_with_nulls_and_mixed_types(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "docs.sqlite3")
    values: list[Any] = [None, "b", 2, 1.5, "a", None, 3, "b", 2, ...]
    for index, value in enumerate(values * 3):
        doc: dict[str, Any] = {"id": f"i{index:02d}", "pk": f"p{index % 3}"}
        if value is not ...:
            doc["v"] = value
        store.upsert("c", doc)
    for order_by in (None, "v"):
        for descending in (False, True):
            for pk in (None, "p1"):
                full = [
                    doc["id"]
                    for doc in store.query("c", pk, order_by=order_by, descending=descending).items
                ]
                for limit in (1, 4, 7):
                    paged = _pages(
                        store, pk=pk, order_by=order_by, descending=descending, limit=limit
                    )
                    assert paged == full, (order_by, descending, pk, limit)


def test_paging_is_stable_while_others_write(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "docs.sqlite3")
    for number in range(10, 30):
        store.upsert("c", {"id": f"n{number}", "pk": "p", "n": number})
    first = store.query("c", "p", order_by="n", limit=5)
    assert [doc["n"] for doc in first.items] == [10, 11, 12, 13, 14]
    for number in range(0, 5):
        store.upsert("c", {"id": f"n0{number}", "pk": "p", "n": number})
    store.delete("c", "n10", "p")
    rest = store.query("c", "p", order_by="n", continuation=first.continuation)
    assert [doc["n"] for doc in rest.items] == list(range(15, 30))


def test_foreign_or_mismatched_tokens_are_rejected(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "docs.sqlite3")
    for number in range(3):
        store.upsert("c", {"id": f"n{number}", "pk": "p", "n": number})
    token = store.query("c", "p", order_by="n", limit=1).continuation
    assert token
    with pytest.raises(InvalidInput):
        store.query("c", "p", order_by="n", descending=True, continuation=token)
    with pytest.raises(InvalidInput):
        store.query("c", "p", continuation="not-a-token")
