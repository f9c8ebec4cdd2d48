"""Publishes trades to Web PubSub groups: per-symbol batching, a bounded queue, conflation.

Trades offered within one window (about 100 ms) become one message per symbol group
(`ticks.<SYMBOL>`) plus one message to the all-ticks group. Windows wait in a small bounded
queue and are sent one after another, so each symbol's messages keep their order. While a
window is being sent (Web PubSub is slower than the feed) new trades keep accumulating in
the next one, which closes as soon as the sender is free: messages grow instead of
multiplying, and a trade waits at most about one send time; once a symbol holds more than
`max_batch` trades, or the window has waited longer than `max_delay_seconds`, pending
trades conflate to the latest one per symbol, and the message says how many it skipped.
The archive is fed separately and never sees this. Trades the live feed loses otherwise (a
send that failed after its retries, windows left at `stop`) are counted in `stats.dropped`.

Message shape (JSON, the same for symbol groups and the all-ticks group)::

    {"type": "trades", "sentAt": 1732406400123,
     "batches": [{"symbol": "AAPL", "conflated": 0,
                  "trades": [{"p": 189.5, "v": 100.0, "t": 1732406400050, "c": ["1"]}]}]}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from containerapps.relay.senders import GroupSender
from shared import telemetry
from shared.feed.groups import ALL_TICKS_GROUP, group_for
from shared.feed.trades import Trade

log = logging.getLogger("containerapps.relay.publisher")

FAILING_FOR_SECONDS = 60.0


@dataclass
class PublisherStats:
    trades_in: int = 0
    trades_out: int = 0
    messages_out: int = 0
    conflated: int = 0
    dropped: int = 0
    send_errors: int = 0
    windows_queued: int = 0
    last_success: float = 0.0
    last_error_at: float = 0.0
    last_lag_ms: float = 0.0
    max_lag_ms: float = 0.0
    last_send_ms: float = 0.0


def encode_batch(symbol: str, trades: list[Trade], conflated: int) -> str:
    """One symbol's batch as JSON text (see the module docstring)."""
    return orjson.dumps(
        {
            "symbol": symbol,
            "conflated": conflated,
            "trades": [
                {"p": t.price, "v": t.volume, "t": t.ts_ms, "c": t.conditions}
                if t.conditions
                else {"p": t.price, "v": t.volume, "t": t.ts_ms}
                for t in trades
            ],
        }
    ).decode()


def wrap_batches(batches: list[str], sent_at_ms: int) -> str:
    joined = ",".join(batches)
    return f'{{"type":"trades","sentAt":{sent_at_ms},"batches":[{joined}]}}'


class TickPublisher:
    """Batches offered trades per symbol and sends them to Web PubSub groups.

    `batching=False` sends one message per trade (the comparison peer of the benchmark)."""

    def __init__(
        self,
        sender: GroupSender,
        *,
        window_seconds: float = 0.1,
        max_batch: int = 1000,
        max_delay_seconds: float = 0.5,
        all_ticks_group: bool = True,
        send_timeout_seconds: float = 10.0,
        batching: bool = True,
    ) -> None:
        self.sender = sender
        self.batching = batching
        self.max_batch = max_batch
        self.max_delay_seconds = max_delay_seconds
        self._window_started = 0.0
        self.window_seconds = window_seconds
        self.all_ticks_group = all_ticks_group
        self.send_timeout_seconds = send_timeout_seconds
        self.stats = PublisherStats()
        self._pending: dict[str, list[Trade]] = {}
        self._pending_conflated: dict[str, int] = {}
        self._queue: asyncio.Queue[dict[str, tuple[list[Trade], int]]] = asyncio.Queue(maxsize=1)
        self._tasks: list[asyncio.Task[None]] = []
        self._sending = False
        self._closed_at = 0.0
        self._in_flight: dict[str, tuple[list[Trade], int]] | None = None
        self._in_flight_done = 0

    @property
    def failing(self) -> bool:
        """True when the most recent send failed, less than `FAILING_FOR_SECONDS` ago (with
        no trades to send, nothing would ever clear it)."""
        last_error = self.stats.last_error_at
        return (
            last_error > self.stats.last_success and time.time() - last_error < FAILING_FOR_SECONDS
        )

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def offer(self, trades: Iterable[Trade]) -> None:
        """Add trades to the current window (never blocks, never raises)."""
        pending = self._pending
        if not pending:
            self._window_started = time.monotonic()
        count = 0
        for trade in trades:
            bucket = pending.get(trade.symbol)
            if bucket is None:
                pending[trade.symbol] = [trade]
            else:
                bucket.append(trade)
            count += 1
        self.stats.trades_in += count

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._window_loop(), name="publisher-window"),
            asyncio.create_task(self._send_loop(), name="publisher-send"),
        ]

    async def stop(self, drain_seconds: float = 3.0) -> None:
        """Queue what is pending, send what the queue holds (up to `drain_seconds`), stop;
        trades still unsent then are counted in `stats.dropped`."""
        if not self._tasks:
            return
        window_task, send_task = self._tasks
        window_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await window_task
        self._close_window(force=True)
        try:
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        except TimeoutError:
            log.warning("publisher stopped with %d windows unsent", self._queue.qsize())
        send_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await send_task
        self._tasks = []
        unsent = 0
        while not self._queue.empty():
            unsent += sum(len(trades) for trades, _ in self._queue.get_nowait().values())
            self._queue.task_done()
        if self._in_flight is not None:
            unsent += sum(len(t) for t, _ in self._in_flight.values()) - self._in_flight_done
            self._in_flight = None
        if unsent:
            self.stats.dropped += unsent
            log.warning("publisher stopped with %d trades not sent to the live feed", unsent)

    def _close_window(self, force: bool = False) -> None:
        if not self._pending:
            return
        busy = self._sending or self._queue.full()
        if busy and not force:
            late = time.monotonic() - self._window_started > self.max_delay_seconds
            for symbol, trades in self._pending.items():
                if len(trades) > 1 and (late or len(trades) > self.max_batch):
                    skipped = len(trades) - 1
                    self._pending[symbol] = trades[-1:]
                    self._pending_conflated[symbol] = (
                        self._pending_conflated.get(symbol, 0) + skipped
                    )
                    self.stats.conflated += skipped
            return
        window = {
            symbol: (trades, self._pending_conflated.pop(symbol, 0))
            for symbol, trades in self._pending.items()
        }
        self._pending = {}
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                dropped = self._queue.get_nowait()
                self._queue.task_done()
                self.stats.conflated += sum(len(t) for t, _ in dropped.values())
        self._queue.put_nowait(window)
        self._closed_at = time.monotonic()
        self.stats.windows_queued += 1

    async def _window_loop(self) -> None:
        while True:
            await asyncio.sleep(self.window_seconds)
            self._close_window()

    async def _send_loop(self) -> None:
        while True:
            window = await self._queue.get()
            self._sending = True
            self._in_flight, self._in_flight_done = window, 0
            try:
                with telemetry.span("relay.publish"):
                    await self._send_window(window)
            except Exception:
                log.exception("publishing a window failed")
            finally:
                self._sending = False
                self._queue.task_done()
            self._in_flight = None
            if time.monotonic() - self._closed_at >= self.window_seconds:
                self._close_window()

    async def _send_one(self, group: str, payload: str, trades: int) -> bool:
        try:
            async with asyncio.timeout(self.send_timeout_seconds):
                await self.sender.send_to_group(group, payload)
        except Exception as error:
            self.stats.send_errors += 1
            self.stats.dropped += trades
            self._in_flight_done += trades
            self.stats.last_error_at = time.time()
            log.warning("send to group %s failed (%d trades dropped): %s", group, trades, error)
            return False
        self._in_flight_done += trades
        self.stats.messages_out += 1
        self.stats.trades_out += trades
        return True

    async def _send_unbatched(self, symbol: str, trades: list[Trade], conflated: int) -> bool:
        ok = False
        for index, trade in enumerate(trades):
            batch = encode_batch(symbol, [trade], conflated if index == 0 else 0)
            now_ms = int(time.time() * 1000)
            ok = await self._send_one(group_for(symbol), wrap_batches([batch], now_ms), 1) or ok
        return ok

    async def _send_window(self, window: dict[str, tuple[list[Trade], int]]) -> None:
        now_ms = int(time.time() * 1000)
        if not self.batching:
            results = await asyncio.gather(
                *(self._send_unbatched(s, trades, c) for s, (trades, c) in window.items())
            )
            if any(results):
                self.stats.last_success = time.time()
            return
        batches: list[str] = []
        sends = []
        oldest = now_ms
        for symbol, (trades, conflated) in window.items():
            try:
                group = group_for(symbol)
            except ValueError as error:
                self.stats.dropped += len(trades)
                self._in_flight_done += len(trades)
                log.warning("%d trades dropped from the live feed: %s", len(trades), error)
                continue
            batch = encode_batch(symbol, trades, conflated)
            batches.append(batch)
            oldest = min(oldest, trades[0].ts_ms)
            sends.append(self._send_one(group, wrap_batches([batch], now_ms), len(trades)))
        if self.all_ticks_group and batches:
            sends.append(self._send_one(ALL_TICKS_GROUP, wrap_batches(batches, now_ms), 0))
        started = time.perf_counter()
        results = await asyncio.gather(*sends)
        self.stats.last_send_ms = (time.perf_counter() - started) * 1000
        if any(results):
            self.stats.last_success = time.time()
        lag = max(0.0, now_ms - oldest)
        self.stats.last_lag_ms = lag
        self.stats.max_lag_ms = max(self.stats.max_lag_ms, lag)
