"""KeepAlivePool against real servers on 127.0.0.1: reuse, limits, and every way a server
can fail an answer."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme
from aiohttp import web

from containerapps.relay.http_pool import KeepAlivePool
from tests.support.loopback import serve_routes

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """An aiohttp app that answers by path and records each request's client port."""

    def __init__(self) -> None:
        self.peers: list[int] = []
        self.bodies: list[bytes] = []
        self.hosts: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.peers.append(peer[1] if peer else -1)
            self.bodies.append(await request.read())
            self.hosts.append(request.headers.get("Host", ""))
            action = request.match_info["action"]
            if action == "slow":
                await asyncio.sleep(0.05)
                return web.Response(status=202)
            if action == "bad":
                return web.json_response({"code": "InvalidRequest"}, status=400)
            if action == "close":
                response = web.Response(status=202)
                response.force_close()
                return response
            if action == "chunked":
                stream = web.StreamResponse(status=500)
                stream.enable_chunked_encoding()
                await stream.prepare(request)
                await stream.write(b"part one, ")
                await stream.write(b"part two")
                await stream.write_eof()
                return stream
            return web.Response(status=202)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    record = Recorder()
    async with serve_routes(web.post("/{action}", record.handle)) as origin:
        yield record, origin


@asynccontextmanager
async def pool_on_raw_server(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    **pool: Any,
) -> AsyncIterator[KeepAlivePool]:
    """A KeepAlivePool (with `pool` options) on a bare TCP server on 127.0.0.1 whose `answer`
    decides what each connection gets; both closed on exit."""
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = KeepAlivePool(f"http://127.0.0.1:{port}", **pool)
    try:
        yield client
    finally:
        await client.close()
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


async def test_sequential_posts_reuse_one_connection_and_return_status_and_body(
    recorder: tuple[Recorder, str],
) -> None:
    record, origin = recorder
    pool = KeepAlivePool(origin)
    try:
        first = await pool.post("/ok?x=1", {"Content-Type": "application/json"}, b'{"n":1}')
        second = await pool.post("/bad", {}, b"{}")
        third = await pool.post("/ok", {}, b'{"n":3}')
    finally:
        await pool.close()
    assert (first.status, first.body) == (202, b"")
    assert second.status == 400
    assert second.body == b'{"code": "InvalidRequest"}'
    assert third.status == 202
    assert record.bodies == [b'{"n":1}', b"{}", b'{"n":3}']
    assert len(set(record.peers)) == 1
    assert record.hosts == [origin.removeprefix("http://")] * 3


async def test_concurrent_posts_never_open_more_than_the_limit(
    recorder: tuple[Recorder, str],
) -> None:
    record, origin = recorder
    pool = KeepAlivePool(origin, limit=3)
    try:
        replies = await asyncio.gather(*(pool.post("/slow", {}, b"%d" % i) for i in range(12)))
        assert [r.status for r in replies] == [202] * 12
        assert record.most_in_flight == 3
        assert len(set(record.peers)) == 3
        assert pool.open_connections == 3
    finally:
        await pool.close()
    assert sorted(record.bodies) == sorted(b"%d" % i for i in range(12))


async def test_a_connection_the_server_closes_is_not_reused(
    recorder: tuple[Recorder, str],
) -> None:
    record, origin = recorder
    pool = KeepAlivePool(origin)
    try:
        assert (await pool.post("/close", {}, b"")).status == 202
        assert (await pool.post("/ok", {}, b"")).status == 202
        assert (await pool.post("/ok", {}, b"")).status == 202
    finally:
        await pool.close()
    assert record.peers[0] != record.peers[1]
    assert record.peers[1] == record.peers[2]


async def test_a_chunked_answer_is_read_whole(recorder: tuple[Recorder, str]) -> None:
    _, origin = recorder
    pool = KeepAlivePool(origin)
    try:
        reply = await pool.post("/chunked", {}, b"")
        again = await pool.post("/ok", {}, b"")
    finally:
        await pool.close()
    assert (reply.status, reply.body) == (500, b"part one, part two")
    assert again.status == 202


async def test_server_hanging_up_without_an_answer_is_a_connection_error_then_recovers() -> None:
    calls = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        await read_request(reader)
        if calls == 1:
            writer.close()
            return
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with pool_on_raw_server(answer) as pool:
        with pytest.raises(ConnectionError, match="closed the connection"):
            await pool.post("/x", {}, b"a")
        assert (await pool.post("/x", {}, b"b")).status == 202
    assert calls == 2


async def test_an_answer_that_ends_with_the_connection_is_read_whole() -> None:
    answers = [
        b"HTTP/1.0 202 Accepted\r\n\r\nuntil close",
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 20\r\n\r\ncut short",
    ]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    async with pool_on_raw_server(answer) as pool:
        reply = await pool.post("/x", {}, b"a")
        assert (reply.status, reply.body) == (202, b"until close")
        with pytest.raises(ConnectionError, match="closed the connection"):
            await pool.post("/x", {}, b"b")


async def test_garbage_instead_of_http_is_a_connection_error() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with pool_on_raw_server(answer) as pool:
        with pytest.raises(ConnectionError, match="unreadable HTTP response"):
            await pool.post("/x", {}, b"a")
        assert pool.open_connections == 0


async def test_a_slow_answer_times_out_and_its_connection_is_dropped() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with pool_on_raw_server(answer, request_timeout=0.2) as pool:
        with pytest.raises(TimeoutError):
            await pool.post("/x", {}, b"a")
        assert pool.open_connections == 0


async def test_waiting_for_a_free_connection_counts_toward_the_timeout() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(0.3)
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with pool_on_raw_server(answer, limit=1, request_timeout=0.5) as pool:
        first, second = await asyncio.gather(
            pool.post("/x", {}, b"a"), pool.post("/x", {}, b"b"), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in (first, second)) == ["Reply", "TimeoutError"]


async def test_nobody_listening_is_a_readable_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = KeepAlivePool(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectionError, match=f"cannot connect to 127.0.0.1:{port}"):
        await pool.post("/x", {}, b"a")


def test_only_http_origins_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        KeepAlivePool("ftp://127.0.0.1:21")
    assert KeepAlivePool("https://example.webpubsub.azure.com").host_header == (
        "example.webpubsub.azure.com"
    )


async def test_https_checks_the_certificate_and_sends_the_host_name() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    record = Recorder()
    app = web.Application()
    app.router.add_post("/{action}", record.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = runner.addresses[0][1]
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    trusted = KeepAlivePool(f"https://127.0.0.1:{port}", ssl_context=trusting)
    stranger = KeepAlivePool(f"https://127.0.0.1:{port}")
    try:
        assert (await trusted.post("/ok", {}, b"tls")).status == 202
        assert (await trusted.post("/ok", {}, b"again")).status == 202
        with pytest.raises(ConnectionError, match="certificate verify failed"):
            await stranger.post("/ok", {}, b"refused")
    finally:
        await trusted.close()
        await stranger.close()
        await runner.cleanup()
    assert record.bodies == [b"tls", b"again"]
    assert record.hosts == [f"127.0.0.1:{port}"] * 2
    assert len(set(record.peers)) == 1
