"""Every answer the host gives by itself (no route, wrong method, an unparsable request, a body
over the limit, a function that raised) is problem+json, like every answer of the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from devhost import host as host_module
from devhost.host import DevHost
from testsupport.host import in_process_host

SAMPLE_APP = "tests.devhost.sample_app:app"
SETTINGS = {"SAMPLE_SCHEDULE": "0 0 0 1 1 *"}


@pytest.fixture
async def served() -> AsyncIterator[DevHost]:
    async with in_process_host(SAMPLE_APP, settings=SETTINGS) as host:
        yield host


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    return body


async def _raw(host: DevHost, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def test_unknown_routes_and_wrong_methods_are_problems(served: DevHost) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as client:
        body = _problem(await client.get("/api/nowhere"), 404)
        assert body["detail"] == "no function serves /api/nowhere"
        _problem(await client.get("/elsewhere"), 404)
        _problem(await client.get("/api/echo/notanumber"), 404)
        wrong = await client.delete("/api/health")
        assert _problem(wrong, 405)["detail"] == "method DELETE not allowed; use GET"
        assert wrong.headers["Allow"] == "GET"
        admin = await client.get("/admin/functions/health")
        _problem(admin, 405)
        assert admin.headers["Allow"] == "POST"
        _problem(await client.post("/admin/functions/nosuch", json={"input": ""}), 404)
        bad_json = await client.post("/admin/functions/ticker", content=b"{")
        assert "must be JSON" in _problem(bad_json, 400)["detail"]
        boom = await client.get("/api/boom")
        assert _problem(boom, 500)["detail"] == "function boom failed; see the log"
        assert "Traceback" not in boom.text


async def test_a_body_over_the_limit_is_413_declared_or_streamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host_module, "MAX_REQUEST_BYTES", 1000)
    async with (
        in_process_host(SAMPLE_APP, settings=SETTINGS) as served,
        httpx.AsyncClient(base_url=served.base_url) as client,
    ):
        declared = await client.post("/api/echo/1", content=b"x" * 1001)
        assert "(1000 bytes)" in _problem(declared, 413)["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"x" * 400

        streamed = await client.post("/api/echo/1", content=chunks())
        assert "(1000 bytes)" in _problem(streamed, 413)["detail"]
        fits = await client.post("/api/echo/1", content=b"x" * 1000)
        assert fits.status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
)
async def test_an_unparsable_request_is_a_400_problem(
    served: DevHost, request_bytes: bytes
) -> None:
    status, headers, body = await _raw(served, request_bytes)
    assert status == 400
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["detail"].startswith("the request is not valid HTTP")
