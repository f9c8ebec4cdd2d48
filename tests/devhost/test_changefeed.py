"""The local host's change-feed trigger: `ChangeFeed` over the embedded store, and the plugin
running a `cosmosDBTrigger` function as the Functions host does (batches, poll delay)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import azure.functions as func
import pytest

from devhost.changefeed import ChangeFeed, ChangeFeedPlugin
from shared.errors import Unavailable
from shared.storage.documents import DocumentStore
from shared.storage.factory import document_store
from testsupport.host import in_process_host

pytestmark = pytest.mark.timeout(60)

CONTAINER = "quotes"


def quote(symbol: str, price: float) -> dict[str, Any]:
    return {"id": symbol, "pk": symbol, "symbol": symbol, "price": price}


def symbols_and_prices(documents: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(doc["symbol"], doc["price"]) for doc in documents]


@pytest.fixture
def store() -> DocumentStore:
    return document_store()


def test_the_feed_starts_now_and_hands_over_each_write_once(store: DocumentStore) -> None:
    store.upsert(CONTAINER, quote("OLD", 1.0))
    feed = ChangeFeed(store, CONTAINER)
    assert feed.read() == [], "without startFromBeginning, earlier writes are not changes"
    store.upsert(CONTAINER, quote("AAPL", 100.0))
    store.upsert(CONTAINER, quote("MSFT", 300.0))
    assert sorted(symbols_and_prices(feed.read())) == [("AAPL", 100.0), ("MSFT", 300.0)]
    assert feed.read() == []
    # a rewrite within the same second is a new version: handed over again
    store.upsert(CONTAINER, quote("AAPL", 101.0))
    assert symbols_and_prices(feed.read()) == [("AAPL", 101.0)]
    assert feed.read() == []


def test_two_writes_between_reads_hand_over_the_latest_version(store: DocumentStore) -> None:
    feed = ChangeFeed(store, CONTAINER)
    store.upsert(CONTAINER, quote("AAPL", 100.0))
    store.upsert(CONTAINER, quote("AAPL", 99.5))
    assert symbols_and_prices(feed.read()) == [("AAPL", 99.5)]


def test_start_from_beginning_hands_over_what_is_stored(store: DocumentStore) -> None:
    store.upsert(CONTAINER, quote("OLD", 1.0))
    feed = ChangeFeed(store, CONTAINER, start_from_beginning=True)
    assert symbols_and_prices(feed.read()) == [("OLD", 1.0)]
    assert feed.read() == []


def test_writes_in_a_later_second_move_the_checkpoint(store: DocumentStore) -> None:
    feed = ChangeFeed(store, CONTAINER)
    store.upsert(CONTAINER, quote("AAPL", 100.0))
    assert len(feed.read()) == 1
    first = feed.since
    time.sleep(1.05)
    store.upsert(CONTAINER, quote("MSFT", 300.0))
    assert symbols_and_prices(feed.read()) == [("MSFT", 300.0)]
    assert feed.since > first
    assert feed.read() == []


def change_feed_app(received: list[list[dict[str, Any]]]) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name("on_quotes")
    @app.cosmos_db_trigger(
        arg_name="documents",
        connection="COSMOS",
        database_name="%COSMOS_DATABASE%",
        container_name=CONTAINER,
        lease_container_name="leases",
        feed_poll_delay=100,
        max_items_per_invocation=2,
    )
    async def on_quotes(documents: func.DocumentList) -> None:
        received.append([dict(doc) for doc in documents])

    return app


async def test_the_plugin_runs_the_trigger_in_batches_of_max_items(store: DocumentStore) -> None:
    received: list[list[dict[str, Any]]] = []
    plugin = ChangeFeedPlugin()
    async with in_process_host(change_feed_app(received), plugins=[plugin]) as host:
        assert (
            plugin.describe(host.functions["on_quotes"]) == "change feed of quotes (every 100 ms)"
        )
        for n, symbol in enumerate(("A", "B", "C")):
            store.upsert(CONTAINER, quote(symbol, float(n)))
        for _ in range(100):
            if sum(len(batch) for batch in received) >= 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # nothing more arrives: each version is handed over once
    assert [len(batch) for batch in received] == [2, 1]
    assert sorted(doc["symbol"] for batch in received for doc in batch) == ["A", "B", "C"]


class Unreachable:
    """The real store, unreachable for the first `failures` queries (an emulator not up)."""

    def __init__(self, inner: DocumentStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def query_all(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise Unavailable("store did not answer")
        return self.inner.query_all(*args, **kwargs)


async def test_a_store_that_does_not_answer_yet_is_retried_and_said_once(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = Unreachable(store, failures=3)
    monkeypatch.setattr("shared.storage.factory.document_store", lambda: flaky)
    received: list[list[dict[str, Any]]] = []
    async with in_process_host(change_feed_app(received), plugins=[ChangeFeedPlugin()]):
        for _ in range(100):
            if flaky.failures == 0:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        store.upsert(CONTAINER, quote("LATE", 5.0))
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
    assert [symbols_and_prices(batch) for batch in received] == [[("LATE", 5.0)]]
    warnings = [r for r in caplog.records if "change feed unreadable" in r.getMessage()]
    assert len(warnings) == 1
    assert "store did not answer" in warnings[0].getMessage()
