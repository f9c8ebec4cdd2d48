"""The DocumentStore contract: every adapter (SQLite, Cosmos emulator) must pass it unchanged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import Conflict, InvalidInput
from shared.storage.documents import (
    DocumentNotFound,
    DocumentStore,
    Filter,
    PatchOp,
    StaleEtag,
)


def body(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [doc["id"] for doc in docs]


def seed(store: DocumentStore, container: str) -> None:
    rows = [
        ("AAPL", "p1", 190.5, ["tech", "us"], {"venue": "NASDAQ", "lot": 1}),
        ("MSFT", "p1", 410.0, ["tech"], {"venue": "NASDAQ", "lot": 1}),
        ("SPY", "p1", 520.25, ["etf", "us"], {"venue": "ARCA", "lot": 1}),
        ("BTC", "p2", 64000.0, ["crypto"], {"venue": "CB", "lot": 0}),
        ("ETH", "p2", 3100.0, ["crypto"], {"venue": "CB", "lot": 0}),
    ]
    for symbol, pk, price, tags, extra in rows:
        store.upsert(
            container,
            {"id": symbol, "pk": pk, "price": price, "tags": tags, "info": extra, "flag": None},
        )


def test_create_read_round_trip(document_store: DocumentStore, container: str) -> None:
    doc = {
        "id": "q-1",
        "pk": "alice",
        "text": "naïve ✓",
        "n": 3,
        "x": 1.25,
        "ok": True,
        "none": None,
        "nested": {"list": [1, "two", {"three": 3}]},
    }
    stored = document_store.create(container, doc)
    assert body(stored) == doc
    assert stored["_etag"]
    assert isinstance(stored["_ts"], int)
    assert abs(stored["_ts"] - time.time()) < 5
    read = document_store.read(container, "q-1", "alice")
    assert body(read) == doc
    assert read["_etag"] == stored["_etag"]


def test_create_duplicate_conflicts(document_store: DocumentStore, container: str) -> None:
    document_store.create(container, {"id": "a", "pk": "p", "v": 1})
    with pytest.raises(Conflict):
        document_store.create(container, {"id": "a", "pk": "p", "v": 2})
    assert document_store.read(container, "a", "p")["v"] == 1
    document_store.create(container, {"id": "a", "pk": "other", "v": 3})


def test_read_missing(document_store: DocumentStore, container: str) -> None:
    document_store.create(container, {"id": "a", "pk": "p"})
    with pytest.raises(DocumentNotFound):
        document_store.read(container, "missing", "p")
    with pytest.raises(DocumentNotFound):
        document_store.read(container, "a", "wrong-partition")


def test_upsert_replaces_and_changes_etag(document_store: DocumentStore, container: str) -> None:
    first = document_store.upsert(container, {"id": "a", "pk": "p", "v": 1, "gone": True})
    second = document_store.upsert(container, {"id": "a", "pk": "p", "v": 2})
    assert second["_etag"] != first["_etag"]
    assert body(document_store.read(container, "a", "p")) == {"id": "a", "pk": "p", "v": 2}


def test_stale_etag_rejected(document_store: DocumentStore, container: str) -> None:
    first = document_store.upsert(container, {"id": "a", "pk": "p", "v": 1})
    second = document_store.upsert(
        container, {"id": "a", "pk": "p", "v": 2}, if_match=first["_etag"]
    )
    with pytest.raises(StaleEtag):
        document_store.upsert(container, {"id": "a", "pk": "p", "v": 3}, if_match=first["_etag"])
    with pytest.raises(StaleEtag):
        document_store.patch(
            container, "a", "p", [PatchOp("set", "/v", 4)], if_match=first["_etag"]
        )
    with pytest.raises(StaleEtag):
        document_store.delete(container, "a", "p", if_match=first["_etag"])
    assert document_store.read(container, "a", "p")["v"] == 2
    third = document_store.patch(
        container, "a", "p", [PatchOp("set", "/v", 5)], if_match=second["_etag"]
    )
    assert third["v"] == 5
    assert document_store.delete(container, "a", "p", if_match=third["_etag"]) is True


def test_if_match_on_missing_document(document_store: DocumentStore, container: str) -> None:
    with pytest.raises(DocumentNotFound):
        document_store.upsert(container, {"id": "nope", "pk": "p"}, if_match='"whatever"')


def test_patch_operations(document_store: DocumentStore, container: str) -> None:
    document_store.create(
        container,
        {"id": "a", "pk": "p", "count": 1, "name": "x", "tags": ["a", "b"], "pos": {"qty": 10}},
    )
    patched = document_store.patch(
        container,
        "a",
        "p",
        [
            PatchOp("incr", "/count", 2),
            PatchOp("set", "/status", "open"),
            PatchOp("replace", "/name", "y"),
            PatchOp("add", "/tags/-", "c"),
            PatchOp("add", "/tags/0", "first"),
            PatchOp("incr", "/pos/qty", -2.5),
            PatchOp("set", "/pos/side", "long"),
            PatchOp("remove", "/tags/1"),
        ],
    )
    expected = {
        "id": "a",
        "pk": "p",
        "count": 3,
        "name": "y",
        "status": "open",
        "tags": ["first", "b", "c"],
        "pos": {"qty": 7.5, "side": "long"},
    }
    assert body(patched) == expected
    assert body(document_store.read(container, "a", "p")) == expected
    removed = document_store.patch(container, "a", "p", [PatchOp("remove", "/status")])
    assert "status" not in removed


def test_patch_errors(document_store: DocumentStore, container: str) -> None:
    document_store.create(container, {"id": "a", "pk": "p", "v": 1})
    with pytest.raises(DocumentNotFound):
        document_store.patch(container, "missing", "p", [PatchOp("set", "/v", 2)])
    with pytest.raises(InvalidInput):
        document_store.patch(container, "a", "p", [PatchOp("remove", "/absent")])
    with pytest.raises(InvalidInput):
        document_store.patch(container, "a", "p", [PatchOp("replace", "/absent", 1)])
    with pytest.raises(InvalidInput):
        document_store.patch(container, "a", "p", [PatchOp("set", "/pk", "moved")])
    assert body(document_store.read(container, "a", "p")) == {"id": "a", "pk": "p", "v": 1}


def test_delete(document_store: DocumentStore, container: str) -> None:
    document_store.create(container, {"id": "a", "pk": "p"})
    assert document_store.delete(container, "a", "p") is True
    assert document_store.delete(container, "a", "p") is False
    with pytest.raises(DocumentNotFound):
        document_store.read(container, "a", "p")


def test_query_filters_within_partition(document_store: DocumentStore, container: str) -> None:
    seed(document_store, container)

    def query(*filters: Filter) -> list[str]:
        return sorted(ids(document_store.query(container, "p1", list(filters)).items))

    assert query() == ["AAPL", "MSFT", "SPY"]
    assert query(Filter("price", ">=", 400)) == ["MSFT", "SPY"]
    assert query(Filter("price", "<", 400)) == ["AAPL"]
    assert query(Filter("id", "!=", "MSFT")) == ["AAPL", "SPY"]
    assert query(Filter("id", "in", ["SPY", "BTC", "AAPL"])) == ["AAPL", "SPY"]
    assert query(Filter("tags", "contains", "us")) == ["AAPL", "SPY"]
    assert query(Filter("info.venue", "=", "NASDAQ"), Filter("price", ">", 200)) == ["MSFT"]
    assert query(Filter("flag", "=", None)) == ["AAPL", "MSFT", "SPY"]
    assert query(Filter("price", "=", "410.0")) == []
    assert query(Filter("info.lot", "=", 0)) == []


def test_query_order_by(document_store: DocumentStore, container: str) -> None:
    seed(document_store, container)
    ascending = document_store.query(container, "p1", order_by="price").items
    assert ids(ascending) == ["AAPL", "MSFT", "SPY"]
    descending = document_store.query(container, None, order_by="price", descending=True).items
    assert ids(descending) == ["BTC", "ETH", "SPY", "MSFT", "AAPL"]


def test_cross_partition_query(document_store: DocumentStore, container: str) -> None:
    seed(document_store, container)
    everything = document_store.query(container, None).items
    assert sorted(ids(everything)) == ["AAPL", "BTC", "ETH", "MSFT", "SPY"]
    crypto = document_store.query(container, None, [Filter("tags", "contains", "crypto")]).items
    assert sorted(ids(crypto)) == ["BTC", "ETH"]
    assert sorted({doc["pk"] for doc in everything}) == ["p1", "p2"]


def test_continuation_paging(document_store: DocumentStore, container: str) -> None:
    for number in range(11):
        document_store.upsert(container, {"id": f"i{number:02d}", "pk": "p", "n": number})
    document_store.upsert(container, {"id": "other", "pk": "q", "n": 99})
    seen: list[int] = []
    token = None
    pages = 0
    while True:
        page = document_store.query(container, "p", order_by="n", limit=4, continuation=token)
        assert len(page.items) <= 4
        seen.extend(doc["n"] for doc in page.items)
        pages += 1
        token = page.continuation
        if not token:
            break
        assert pages < 10
    assert seen == list(range(11))
    assert pages >= 3
    everything = document_store.query_all(container, "p", order_by="n")
    assert [doc["n"] for doc in everything] == list(range(11))


def test_ttl_hides_expired_items(document_store: DocumentStore, container: str) -> None:
    document_store.upsert(container, {"id": "short", "pk": "p", "ttl": 1})
    document_store.upsert(container, {"id": "forever", "pk": "p", "ttl": -1})
    document_store.upsert(container, {"id": "plain", "pk": "p"})
    assert document_store.read(container, "short", "p")["ttl"] == 1
    time.sleep(2.2)
    with pytest.raises(DocumentNotFound):
        document_store.read(container, "short", "p")
    assert sorted(ids(document_store.query(container, "p").items)) == ["forever", "plain"]
    assert sorted(ids(document_store.query(container, None).items)) == ["forever", "plain"]
    document_store.create(container, {"id": "short", "pk": "p", "v": "reborn"})
    assert document_store.read(container, "short", "p")["v"] == "reborn"


def test_invalid_input(document_store: DocumentStore, container: str) -> None:
    with pytest.raises(InvalidInput):
        document_store.upsert(container, {"id": "", "pk": "p"})
    with pytest.raises(InvalidInput):
        document_store.upsert(container, {"id": "a"})
    with pytest.raises(InvalidInput):
        document_store.upsert(container, {"id": "a/b", "pk": "p"})
    with pytest.raises(InvalidInput):
        document_store.query(container, "p", [Filter("price; DROP", "=", 1)])
    with pytest.raises(InvalidInput):
        document_store.query(container, "p", order_by="a b")


def _race(workers: int, action: Callable[[int], object]) -> list[BaseException | None]:
    barrier = threading.Barrier(workers)
    outcomes: list[BaseException | None] = [None] * workers

    def run(index: int) -> None:
        barrier.wait()
        try:
            action(index)
        except BaseException as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_etag_writers_exactly_one_wins(
    document_store: DocumentStore, container: str
) -> None:
    start = document_store.upsert(container, {"id": "acct", "pk": "p", "cash": 100, "by": None})
    outcomes = _race(
        8,
        lambda index: document_store.upsert(
            container,
            {"id": "acct", "pk": "p", "cash": 100 + index, "by": index},
            if_match=start["_etag"],
        ),
    )
    winners = [index for index, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, StaleEtag) for o in outcomes if o is not None), outcomes
    assert document_store.read(container, "acct", "p")["by"] == winners[0]


def test_concurrent_increments_are_atomic(document_store: DocumentStore, container: str) -> None:
    document_store.upsert(container, {"id": "ctr", "pk": "p", "n": 0})

    def bump(_index: int) -> None:
        for _ in range(5):
            document_store.patch(container, "ctr", "p", [PatchOp("incr", "/n", 1)])

    assert _race(6, bump) == [None] * 6
    assert document_store.read(container, "ctr", "p")["n"] == 30


def test_ping(document_store: DocumentStore) -> None:
    document_store.ping()
