"""SQLite-only guarantees: several processes writing one file stay consistent."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

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
