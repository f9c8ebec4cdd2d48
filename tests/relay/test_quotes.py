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

    def upsert(self, container: str, document: dict[str, Any]) -> Any:
        time.sleep(0.001)
        return self.inner.upsert(container, document)


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
