"""Throttled latest-price upserts into the `quotes` container (pk = symbol, id = symbol).

The document is written by `shared.ingest.state.QuoteBook` (the quote's one reader and
writer), as ingestion writes it, so the API returns one shape whoever wrote the quote;
`source` is "finnhub" (or "replay" for the local host's replayed trades, condition
`replay`) and `ts` the trade's time. `change` is carried over against the previous close
the stored quote implies (its `price - change`); when the stored quote is from an earlier
UTC day, its price is taken as the previous close instead (the last price seen before the
day began).
The stored `volume` is kept within its day. A stored quote with a later `ts` is left alone,
and a write is conditional on the etag it read (a daily ingestion write in between wins,
and the trade is applied on top of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from shared.events import quotes_written
from shared.feed.trades import Trade
from shared.ingest.state import QuoteBook
from shared.market.models import Quote
from shared.storage.documents import DocumentStore

log = logging.getLogger("relay.quotes")


def trade_quote(trade: Trade, stored: Quote | None) -> Quote:
    """The quote a trade makes, given the stored quote of its symbol (see the module doc)."""
    price = stored.price if stored is not None else None
    change = stored.change if stored is not None else None
    ts = datetime.fromtimestamp(trade.ts_ms / 1000, tz=UTC)
    earlier_day = stored is None or stored.ts.date() < ts.date()
    if price is not None and earlier_day:
        previous_close: float | None = price
    else:
        previous_close = price - change if price is not None and change is not None else None
    new_change = new_percent = None
    if previous_close:
        new_change = trade.price - previous_close
        new_percent = new_change / previous_close * 100.0
    return Quote(
        symbol=trade.symbol,
        price=trade.price,
        change=new_change,
        change_percent=new_percent,
        volume=None if stored is None or earlier_day else stored.volume,
        ts=ts,
        source="replay" if "replay" in trade.conditions else "finnhub",
    )


class QuoteWriter:
    """Remembers each symbol's latest trade and upserts it at most every `interval` s."""

    def __init__(self, documents: DocumentStore, interval: float) -> None:
        self.book = QuoteBook(documents)
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
                if self._write_one(symbol, trade):
                    written.append(symbol)
            except Exception as error:
                self.errors += 1
                log.warning("quote upsert for %s failed: %s", symbol, error)
        self.upserts += len(written)
        quotes_written.publish(written)
        return len(written)

    def _write_one(self, symbol: str, trade: Trade) -> bool:
        return self.book.write(symbol, lambda stored: trade_quote(trade, stored))

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
