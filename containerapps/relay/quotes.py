"""Throttled latest-price upserts into the `quotes` container (pk = symbol, id = symbol).

The document has the fields of `shared.market.Quote` plus `id` and `pk`; `source` is
"finnhub" and `ts` the trade's time. `change` / `change_percent` are computed against a
`previous_close` kept on the document by daily ingestion, when there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from shared.events import quotes_written
from shared.feed.trades import Trade
from shared.storage.documents import DocumentNotFound, DocumentStore

log = logging.getLogger("relay.quotes")

CONTAINER = "quotes"
SOURCE = "finnhub"


def quote_document(trade: Trade, existing: dict[str, object] | None) -> dict[str, object]:
    """The `quotes` document for the latest trade of a symbol."""
    doc: dict[str, object] = {k: v for k, v in (existing or {}).items() if not k.startswith("_")}
    previous = doc.get("previous_close")
    change = change_percent = None
    if isinstance(previous, int | float) and previous:
        change = trade.price - float(previous)
        change_percent = change / float(previous) * 100.0
    doc.update(
        id=trade.symbol,
        pk=trade.symbol,
        symbol=trade.symbol,
        price=trade.price,
        change=change,
        change_percent=change_percent,
        volume=doc.get("volume") if existing else None,
        ts=datetime.fromtimestamp(trade.ts_ms / 1000, tz=UTC).isoformat(),
        source=SOURCE,
    )
    return doc


class QuoteWriter:
    """Remembers each symbol's latest trade and upserts it at most every `interval` s."""

    def __init__(self, documents: DocumentStore, interval: float) -> None:
        self.documents = documents
        self.interval = interval
        self.upserts = 0
        self.errors = 0
        self._latest: dict[str, Trade] = {}
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[int] | None = None

    def observe(self, trades: tuple[Trade, ...] | list[Trade]) -> None:
        latest = self._latest
        for trade in trades:
            current = latest.get(trade.symbol)
            if current is None or trade.ts_ms >= current.ts_ms:
                latest[trade.symbol] = trade

    def _write(self, pending: dict[str, Trade]) -> int:
        written: list[str] = []
        for symbol, trade in pending.items():
            try:
                try:
                    existing = self.documents.read(CONTAINER, symbol, symbol)
                except DocumentNotFound:
                    existing = None
                self.documents.upsert(CONTAINER, quote_document(trade, existing))
                written.append(symbol)
            except Exception as error:
                self.errors += 1
                log.warning("quote upsert for %s failed: %s", symbol, error)
        self.upserts += len(written)
        quotes_written.publish(written)
        return len(written)

    async def _write_off_loop(self) -> None:
        """Take the pending trades here, on the loop (where `observe` adds to them), and
        write them from a thread; one write at a time."""
        pending, self._latest = self._latest, {}
        if pending:
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, pending))
            await asyncio.shield(self._writing)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await self._write_off_loop()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quotes")

    async def stop(self, within: float = 3.0) -> None:
        """Stop the interval writes, let a write under way finish, write what is pending;
        all within `within` seconds (then the latest prices wait for the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with asyncio.timeout(within):
                if self._writing is not None:
                    with contextlib.suppress(Exception):
                        await self._writing
                await self._write_off_loop()
        except TimeoutError:
            log.warning("final quote write did not finish in %.0f s", within)
