"""A local server speaking Finnhub's trade websocket protocol, for the relay to connect to.

Protocol (as wss://ws.finnhub.io): connect with `?token=<key>`; the client sends
`{"type":"subscribe","symbol":"AAPL"}` / `{"type":"unsubscribe",...}`; the server sends
`{"type":"trade","data":[{"s","p","v","t","c"}...]}`, `{"type":"ping"}` and
`{"type":"error","msg":...}`.

`FinnhubServer` is the socket side with hooks for tests (push trades, drop connections,
stall, send raw frames). `SampleReplay` feeds it on the local host: REPLAYED trades derived
from real S&P 500 daily closes (the `arch` package's bundled sp500.csv.gz), spread into
intraday ticks with the current time. Every replayed trade carries the condition codes
`["replay", "sp500:<date>"]` so no one mistakes it for market data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Request, Response, Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from shared.feed.groups import from_finnhub
from shared.feed.trades import Trade, finnhub_trade_frame

log = logging.getLogger("devhost.finnhub")


@dataclass(eq=False)
class UpstreamClient:
    """One connected relay socket and what it subscribed to."""

    number: int
    token: str
    connection: ServerConnection
    symbols: set[str] = field(default_factory=set)


class FinnhubServer:
    """A Finnhub-protocol websocket server on 127.0.0.1 (`port=0` picks a free one)."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        port: int = 0,
        ping_seconds: float = 15.0,
    ) -> None:
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.port = port
        self.ping_seconds = ping_seconds
        self.clients: dict[int, UpstreamClient] = {}
        self.connections_total = 0
        self.subscribe_log: list[tuple[int, str, str]] = []
        """(connection number, "subscribe"|"unsubscribe", symbol) in arrival order."""
        self.stalled = False
        """While True the server sends nothing at all (no trades, no pings)."""
        self.changed = asyncio.Event()
        self._server: Server | None = None
        self._pinger: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def subscribed(self) -> set[str]:
        """Every symbol some connection is subscribed to (Finnhub ids)."""
        return set().union(*(c.symbols for c in self.clients.values())) if self.clients else set()

    async def start(self) -> FinnhubServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._check_token,
            ping_interval=None,
            max_size=2**20,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        self._pinger = asyncio.create_task(self._ping_loop())
        return self

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        token = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
        if self.api_keys is not None and token not in self.api_keys:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Invalid API key\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections_total += 1
        number = self.connections_total
        path = connection.request.path if connection.request is not None else ""
        token = parse_qs(urlsplit(path).query).get("token", [""])[0]
        client = UpstreamClient(number, token, connection)
        self.clients[number] = client
        self._notify()
        try:
            async for raw in connection:
                try:
                    message = json.loads(raw)
                    kind, symbol = message["type"], str(message["symbol"])
                except (ValueError, KeyError, TypeError):
                    await connection.send('{"type":"error","msg":"Invalid message"}')
                    continue
                if kind == "subscribe":
                    client.symbols.add(symbol)
                elif kind == "unsubscribe":
                    client.symbols.discard(symbol)
                else:
                    await connection.send('{"type":"error","msg":"Unknown message type"}')
                    continue
                self.subscribe_log.append((number, kind, symbol))
                self._notify()
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(number, None)
            self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` is true (wrap in `asyncio.timeout`)."""
        while not predicate():
            await self.changed.wait()

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            if not self.stalled:
                await self.broadcast('{"type":"ping"}')

    async def broadcast(self, text: str) -> None:
        """Send one raw frame to every connection (tests: malformed frames, errors)."""
        for client in list(self.clients.values()):
            with contextlib.suppress(ConnectionClosed):
                await client.connection.send(text)

    async def send_trades(self, trades: list[Trade]) -> int:
        """Send `trades` (Finnhub symbols) to every connection subscribed to their symbol, one
        frame per connection; returns how many trades went out."""
        if self.stalled:
            return 0
        sent = 0
        for client in list(self.clients.values()):
            mine = [t for t in trades if t.symbol in client.symbols]
            if mine:
                with contextlib.suppress(ConnectionClosed):
                    await client.connection.send(finnhub_trade_frame(mine))
                    sent += len(mine)
        return sent

    async def send_frame(self, symbols: set[str], frame: str) -> bool:
        """Send a pre-built trade frame to the first connection subscribed to all `symbols`."""
        for client in list(self.clients.values()):
            if symbols <= client.symbols:
                try:
                    await client.connection.send(frame)
                except ConnectionClosed:
                    return False
                return True
        return False

    async def drop_all(self) -> None:
        """Close every connection abruptly (as a free Finnhub socket sometimes does)."""
        for client in list(self.clients.values()):
            client.connection.transport.abort()


class SampleReplay:
    """Feeds `server` with replayed ticks for whatever symbols are subscribed.

    Each symbol walks the S&P 500 daily closes (real, from arch) from its own starting day;
    one replayed day takes `seconds_per_day`, its ticks moving from the previous close to
    the day's close along a path that touches the day's high and low.
    """

    def __init__(
        self,
        server: FinnhubServer,
        *,
        trades_per_second: float = 4.0,
        seconds_per_day: float = 60.0,
    ) -> None:
        self.server = server
        self.trades_per_second = trades_per_second
        self.seconds_per_day = seconds_per_day
        self._days: list[tuple[str, float, float, float, float, float]] = []
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0

    def _load(self) -> None:
        """Read arch's bundled S&P 500 file (the sample provider's `^GSPC` dataset) without
        importing arch itself, which takes seconds of CPU at every host start."""
        import importlib.util

        import pandas as pd

        spec = importlib.util.find_spec("arch")
        if spec is None or not spec.submodule_search_locations:
            log.warning("the arch package is not installed: nothing to replay")
            return
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "sp500" / "sp500.csv.gz"
        frame = pd.read_csv(path, index_col=0, parse_dates=True).sort_index()
        self._days = [
            (stamp.date().isoformat(), float(o), float(h), float(lo), float(c), float(v))
            for stamp, o, h, lo, c, v in zip(
                frame.index,
                frame["Open"],
                frame["High"],
                frame["Low"],
                frame["Close"],
                frame["Volume"],
                strict=True,
            )
        ]

    async def start(self) -> None:
        """Begin replaying (the dataset loads in the background)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def tick(self, stream_id: str, elapsed: float) -> Trade:
        """The replayed trade of `stream_id` at `elapsed` seconds since the replay started."""
        offset = zlib.crc32(from_finnhub(stream_id).encode()) % max(1, len(self._days) - 1)
        position = elapsed / self.seconds_per_day
        index = (offset + int(position)) % (len(self._days) - 1) + 1
        frac = position - int(position)
        day, _open, high, low, close, volume = self._days[index]
        previous_close = self._days[index - 1][4]
        if frac < 1 / 3:
            price = previous_close + (high - previous_close) * (frac * 3)
        elif frac < 2 / 3:
            price = high + (low - high) * ((frac - 1 / 3) * 3)
        else:
            price = low + (close - low) * ((frac - 2 / 3) * 3)
        price += (high - low) * 0.02 * math.sin(elapsed * 7.0 + offset)
        price = round(min(max(price, low), high), 2)
        size = max(1.0, round(volume / 6.5e6 / 3600 / self.trades_per_second, 0))
        return Trade(
            symbol=stream_id,
            price=price,
            volume=size,
            ts_ms=int(time.time() * 1000),
            conditions=("replay", f"sp500:{day}"),
        )

    async def _run(self) -> None:
        await asyncio.to_thread(self._load)
        log.info("replaying %d S&P 500 days as ticks (derived, not market data)", len(self._days))
        self._started = time.monotonic()
        period = 1.0 / self.trades_per_second
        while True:
            await asyncio.sleep(period)
            elapsed = time.monotonic() - self._started
            symbols = sorted(self.server.subscribed())
            if symbols and len(self._days) > 1:
                try:
                    await self.server.send_trades([self.tick(s, elapsed) for s in symbols])
                except Exception:
                    log.exception("replay send failed")
