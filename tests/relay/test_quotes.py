"""The relay's quote writer: trades keep arriving while a write runs in its thread."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

from containerapps.relay.quotes import QuoteWriter
from shared.config import load_settings
from shared.feed.trades import Trade
from shared.storage.documents import DocumentStore
from shared.storage.factory import document_store

pytestmark = pytest.mark.timeout(60)

SYMBOLS = [f"Q{n:03d}" for n in range(200)]


class SlowDocuments:
    """The real store, with each upsert taking a millisecond (a remote database)."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upsert(self, container: str, document: dict[str, Any], **options: Any) -> Any:
        time.sleep(0.001)
        return self.inner.upsert(container, document, **options)


@pytest.fixture
def eager_thread_switches() -> Any:
    """Switch between threads every 10 µs, so the writer thread interleaves with `observe`."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("eager_thread_switches")
async def test_writes_overlapping_new_trades_lose_nothing_and_end_with_the_latest() -> None:
    store = document_store(load_settings())
    writer = QuoteWriter(SlowDocuments(store), interval=0.01)  # type: ignore[arg-type]
    writer.start()
    ts = 1_763_942_400_000
    for step in range(300):
        ts += 1
        writer.observe([Trade(symbol, 100.0 + step, 1.0, ts) for symbol in SYMBOLS * 5])
        await asyncio.sleep(0)
        if step % 30 == 0:
            await asyncio.sleep(0.005)
    assert writer._task is not None
    assert not writer._task.done()
    await writer.stop(within=30.0)
    assert writer.errors == 0
    assert writer.upserts >= len(SYMBOLS)
    prices = {s: store.read("quotes", s, s)["price"] for s in SYMBOLS}
    assert set(prices.values()) == {399.0}


def test_a_relay_quote_has_the_ingestion_shape_and_carries_the_day_over() -> None:
    from datetime import UTC, datetime

    from shared.ingest.state import QuoteBook, quote_document
    from shared.market.models import Quote

    store = document_store(load_settings())
    book = QuoteBook(store)
    opened = datetime(2025, 11, 24, 15, 0, tzinfo=UTC)
    book.upsert(
        Quote(
            symbol="AAPL",
            price=190.0,
            change=2.0,
            change_percent=1.06,
            volume=1e6,
            ts=opened,
            source="yahoo",
        )
    )
    later_ms = int(opened.timestamp() * 1000) + 60_000
    writer = QuoteWriter(store, interval=1.0)
    assert writer._write({"AAPL": Trade("AAPL", 191.0, 5.0, later_ms)}) == 1
    quote = store.read("quotes", "AAPL", "AAPL")
    assert quote["price"] == 191.0
    assert quote["change"] == pytest.approx(3.0)
    assert quote["changePercent"] == pytest.approx(3.0 / 188.0 * 100)
    assert quote["volume"] == 1e6
    assert quote["source"] == "finnhub"
    assert "change_percent" not in quote
    read_back = book.get("AAPL")
    assert read_back is not None
    assert set(quote) - {"_etag", "_ts"} == set(quote_document(read_back))

    older = Trade("AAPL", 150.0, 1.0, later_ms - 120_000)
    assert writer._write({"AAPL": older}) == 0
    assert store.read("quotes", "AAPL", "AAPL")["price"] == 191.0


def test_the_first_trade_of_a_new_day_measures_change_from_the_last_price_before_it() -> None:
    store = document_store(load_settings())
    writer = QuoteWriter(store, interval=1.0)
    evening = 1_763_938_800_000  # 2025-11-23 23:00 UTC
    writer._write({"MSFT": Trade("MSFT", 400.0, 1.0, evening)})
    next_morning = evening + 10 * 3_600_000
    writer._write({"MSFT": Trade("MSFT", 404.0, 1.0, next_morning)})
    quote = store.read("quotes", "MSFT", "MSFT")
    assert quote["change"] == pytest.approx(4.0)
    assert quote["changePercent"] == pytest.approx(1.0)
    assert quote["volume"] is None
    writer._write({"MSFT": Trade("MSFT", 398.0, 1.0, next_morning + 60_000)})
    assert store.read("quotes", "MSFT", "MSFT")["change"] == pytest.approx(-2.0)
