"""Finnhub websocket connections: one per key, reconnecting, resubscribing, watched.

Each `FinnhubConnection` keeps its desired symbol set subscribed across reconnects. It
reconnects when the socket drops or when nothing (not even Finnhub's ping) arrives for the
heartbeat interval, waiting a capped exponential delay with full jitter between attempts
(AWS "full jitter": uniform in [0, min(cap, base * 2**attempt)]; stamina's additive jitter
is a different curve, so the two lines live here). `SymbolAllocator` spreads symbols over
the connections within the per-connection cap and reports what does not fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared.feed.groups import to_finnhub
from shared.feed.trades import MalformedMessageError, Trade, TradeSequencer, parse_finnhub

log = logging.getLogger("relay.upstream")

TradeSink = Callable[[tuple[Trade, ...]], None]
AuthListener = Callable[[int, bool, str], Awaitable[None]]
"""Called with (connection index, key refused?, why) when a key is refused (once per wait)
and when a refused key is accepted again."""
AUTH_STATUSES = frozenset({401, 403})
_AUTH_MESSAGE = re.compile(r"api[ _-]?key|token|unauthori[sz]ed|forbidden", re.IGNORECASE)


class AuthRejectedError(Exception):
    """Finnhub refused the API key (not an outage: retrying soon cannot help)."""


def full_jitter_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before reconnect attempt `attempt` (0-based): uniform in [0, min(cap, base*2^n)]."""
    return rng.uniform(0.0, min(cap, base * (2.0 ** min(attempt, 62))))


@dataclass
class ConnectionStats:
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    trades: int = 0
    pings: int = 0
    errors: int = 0
    malformed: int = 0
    unknown: int = 0
    last_error: str = ""
    last_message_at: float = 0.0
    auth_rejections: int = 0
    delays: list[float] = field(default_factory=list)


class FinnhubConnection:
    """One Finnhub websocket for one API key and its share of the symbols."""

    def __init__(
        self,
        index: int,
        url: str,
        api_key: str,
        sink: TradeSink,
        *,
        heartbeat_seconds: float = 30.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        connect_timeout: float = 10.0,
        auth_backoff: float = 3600.0,
        on_auth: AuthListener | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.index = index
        self.url = url
        self.api_key = api_key
        self.sink = sink
        self.heartbeat_seconds = heartbeat_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.auth_backoff = auth_backoff
        self.on_auth = on_auth
        self.auth_rejected = False
        """The last attempt was refused for its key; the next is at `next_attempt_at`."""
        self.next_attempt_at: float | None = None
        self.rng = rng or random.Random()
        self.symbols: set[str] = set()
        self.stats = ConnectionStats()
        self.connected = False
        self._subscribed: set[str] = set()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._rename: dict[str, str] = {}

    STABLE_SECONDS = 10.0
    """A connection that lasted this long (and delivered) restarts the backoff from the
    first step; shorter ones keep growing it (a server that drops every connection soon)."""

    def __repr__(self) -> str:
        return f"FinnhubConnection#{self.index}({len(self.symbols)} symbols)"

    @property
    def _endpoint(self) -> str:
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}token={self.api_key}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"finnhub-{self.index}")

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.connected = False

    async def set_symbols(self, symbols: Iterable[str]) -> None:
        """Make `symbols` (suite symbols) the subscribed set, now if connected, else on connect.
        Stream ids of symbols dropped keep their names: trades already on the way still
        arrive under the suite symbol."""
        self.symbols = set(symbols)
        self._rename.update({to_finnhub(s): s for s in self.symbols})
        ws = self._ws
        if ws is None or not self.connected:
            return
        with contextlib.suppress(ConnectionClosed):
            await self._sync_subscriptions(ws)

    async def _sync_subscriptions(self, ws: ClientConnection) -> None:
        wanted = set(self.symbols)
        for symbol in sorted(self._subscribed - wanted):
            await ws.send(f'{{"type":"unsubscribe","symbol":"{to_finnhub(symbol)}"}}')
            self._subscribed.discard(symbol)
        for symbol in sorted(wanted - self._subscribed):
            await ws.send(f'{{"type":"subscribe","symbol":"{to_finnhub(symbol)}"}}')
            self._subscribed.add(symbol)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            received = False
            refused: str | None = None
            up_since = time.monotonic()
            try:
                async with asyncio.timeout(self.connect_timeout):
                    ws = await connect(
                        self._endpoint,
                        open_timeout=None,
                        max_size=2**22,
                        ping_interval=20,
                        ping_timeout=20,
                        compression=None,
                        close_timeout=2,
                    )
                self._ws = ws
                self.connected = True
                self.next_attempt_at = None
                if self.auth_rejected:
                    self.auth_rejected = False
                    log.info("finnhub connection %d: the API key is accepted again", self.index)
                    if self.on_auth is not None:
                        await self.on_auth(self.index, False, "accepted")
                self.stats.connects += 1
                if self.stats.connects > 1:
                    self.stats.reconnects += 1
                up_since = time.monotonic()
                self._subscribed = set()
                await self._sync_subscriptions(ws)
                log.info(
                    "finnhub connection %d up; subscribed %d symbols",
                    self.index,
                    len(self._subscribed),
                )
                received = await self._receive(ws)
            except asyncio.CancelledError:
                raise
            except InvalidStatus as error:
                status = error.response.status_code
                self.stats.last_error = f"handshake refused with HTTP {status}"
                if status in AUTH_STATUSES:
                    refused = f"Finnhub refused the API key: {self.stats.last_error}"
                else:
                    log.warning("finnhub connection %d: %s", self.index, self.stats.last_error)
            except AuthRejectedError as error:
                self.stats.last_error = f"finnhub error: {error}"
                refused = f"Finnhub refused the API key: {error}"
            except (OSError, TimeoutError, ConnectionClosed) as error:
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning("finnhub connection %d lost: %s", self.index, self.stats.last_error)
            except Exception as error:
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.exception("finnhub connection %d failed", self.index)
            finally:
                self.connected = False
                if self._ws is not None:
                    with contextlib.suppress(Exception):
                        await self._ws.close()
                    self._ws = None
            if self._stopping:
                return
            if refused is not None:
                await self._refused(refused)
                await asyncio.sleep(self.auth_backoff)
                continue
            if received and time.monotonic() - up_since >= self.STABLE_SECONDS:
                attempt = 0
            delay = full_jitter_delay(attempt, self.backoff_initial, self.backoff_max, self.rng)
            self.stats.delays.append(delay)
            del self.stats.delays[:-100]
            attempt += 1
            log.info("finnhub connection %d reconnects in %.2f s", self.index, delay)
            await asyncio.sleep(delay)

    async def _refused(self, why: str) -> None:
        """A refused key waits `auth_backoff` (not the reconnect backoff: it is not an outage)
        and is reported once per wait: one log line, one listener call."""
        self.auth_rejected = True
        self.stats.auth_rejections += 1
        self.next_attempt_at = time.time() + self.auth_backoff
        log.error(
            "finnhub connection %d: %s; next attempt in %.0f s (RELAY_AUTH_BACKOFF_SECONDS)",
            self.index,
            why,
            self.auth_backoff,
        )
        if self.on_auth is not None:
            try:
                await self.on_auth(self.index, True, why)
            except Exception:
                log.exception("finnhub connection %d: reporting the refused key failed", self.index)

    def _warn(self, text: str, *args: object) -> None:
        log.warning("finnhub connection %d: " + text, self.index, *args)

    async def _receive(self, ws: ClientConnection) -> bool:
        """Read until the socket closes or the heartbeat lapses; True if anything arrived."""
        sequencer = TradeSequencer()
        received = False
        while True:
            try:
                async with asyncio.timeout(self.heartbeat_seconds):
                    raw = await ws.recv()
            except TimeoutError:
                self.stats.last_error = f"nothing received for {self.heartbeat_seconds:g} s"
                self._warn("%s; reconnecting", self.stats.last_error)
                return received
            received = True
            self.stats.messages += 1
            self.stats.last_message_at = time.time()
            try:
                message = parse_finnhub(raw, sequencer, self._rename)
            except MalformedMessageError as error:
                self.stats.malformed += 1
                self._warn("skipped a malformed frame: %s", error)
                continue
            if message.kind == "trade":
                if message.trades:
                    self.stats.trades += len(message.trades)
                    self.sink(message.trades)
                await asyncio.sleep(0)
            elif message.kind == "ping":
                self.stats.pings += 1
            elif message.kind == "error":
                self.stats.errors += 1
                self.stats.last_error = f"finnhub error: {message.error}"
                self._warn("error message: %s", message.error)
                if _AUTH_MESSAGE.search(message.error):
                    raise AuthRejectedError(message.error)
            else:
                self.stats.unknown += 1
                self._warn("skipped unknown message type %r", message.error)


@dataclass
class Allocation:
    per_connection: list[list[str]]
    over_cap: list[str]


class SymbolAllocator:
    """Keeps each symbol on the same connection while it stays wanted; new symbols go to the
    connection with the fewest; what exceeds `connections * cap` is over the cap."""

    def __init__(self, connections: int, cap: int) -> None:
        self.cap = cap
        self.assigned: list[set[str]] = [set() for _ in range(connections)]

    def allocate(self, wanted: Iterable[str]) -> Allocation:
        want = set(wanted)
        for bucket in self.assigned:
            bucket &= want
        placed = set().union(*self.assigned) if self.assigned else set()
        over: list[str] = []
        for symbol in sorted(want - placed):
            if not self.assigned:
                over.append(symbol)
                continue
            bucket = min(self.assigned, key=len)
            if len(bucket) >= self.cap:
                over.append(symbol)
            else:
                bucket.add(symbol)
        return Allocation([sorted(b) for b in self.assigned], over)
