"""A lean HTTP/1.1 keep-alive client for one origin: the relay's Web PubSub send path.

Every trade window becomes one POST per symbol group, so the relay makes thousands of small
requests a second and their per-request CPU is what bounds its latency. aiohttp's client
spends about 300 µs of CPU on each here; this pool, with httptools (the C parser uvicorn uses)
reading the responses, spends about 40 µs. It does only what that path needs: POST with a
body to one origin (http or https), keep-alive connections reused one request at a time (no
pipelining), a cap on open connections, a per-request timeout. Anything else the relay asks of
HTTP goes through aiohttp or the Azure SDK.

Errors: `ConnectionError` (refused, reset, closed by the server before answering,
unparseable answer) and `TimeoutError`. A connection whose request failed or timed out is
closed, never reused.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.framed = False
        self.keep_alive = True
        self.lost = False

    @property
    def open(self) -> bool:
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    @property
    def usable(self) -> bool:
        return self.open and self.keep_alive

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def request(self, data: bytes) -> asyncio.Future[Reply]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.chunks = []
        self.headers_done = False
        self.framed = False
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"unreadable HTTP response: {error}"))
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            self.keep_alive = False
            return
        waiter.set_result(Reply(self.parser.get_status_code(), b"".join(self.chunks)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and self.headers_done and not self.framed and exc is None:
            self.on_message_complete()
            self.keep_alive = False
        self._fail(ConnectionError(f"server closed the connection before answering ({exc})"))

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()


class KeepAlivePool:
    """POSTs to one origin over at most `limit` keep-alive connections."""

    def __init__(
        self,
        origin: str,
        *,
        limit: int = 64,
        connect_timeout: float = 5.0,
        request_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        split = urlsplit(origin)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self.secure = split.scheme == "https"
        self.host = split.hostname
        self.port = split.port or (443 if self.secure else 80)
        default_port = self.port == (443 if self.secure else 80)
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.ssl_context = (ssl_context or ssl.create_default_context()) if self.secure else None
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._all: set[_Connection] = set()

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._all if c.open)

    async def post(self, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """POST `body` to `target` (path and query) within `request_timeout`, waiting for a
        free connection included; the answer, whatever its status."""
        head = [f"POST {target} HTTP/1.1", f"Host: {self.host_header}"]
        head.extend(f"{name}: {value}" for name, value in headers.items())
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        data = "\r\n".join(head).encode("latin-1") + body
        async with asyncio.timeout(self.request_timeout), self._slots:
            connection = self._take_idle() or await self._connect()
            try:
                reply = await connection.request(data)
            except BaseException:
                connection.close()
                raise
            if connection.usable:
                self._idle.append(connection)
            else:
                connection.close()
            return reply

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.host if self.secure else None,
                )
        except TimeoutError as error:
            raise ConnectionError(f"connecting to {self.host_header} timed out") from error
        except OSError as error:
            raise ConnectionError(f"cannot connect to {self.host_header}: {error}") from error
        self._all = {c for c in self._all if not c.lost}
        self._all.add(connection)
        return connection

    async def close(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()
        await asyncio.sleep(0)
