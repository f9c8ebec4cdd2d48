"""RestSender against a local server that answers like Web PubSub: retries, errors, auth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import jwt
import pytest
from aiohttp import web
from azure.core.credentials import AccessToken

from containerapps.relay.senders import (
    ENTRA_SCOPE,
    AccessKeyTokens,
    EntraTokens,
    RestSender,
    WebPubSubSendError,
)
from tests.support.loopback import serve_routes

pytestmark = pytest.mark.timeout(30)

KEY = "senders-test-access-key-0123456789abcdef"


@dataclass
class Service:
    """Answers group sends with the queued statuses (then 202) and records each call."""

    statuses: list[int] = field(default_factory=list)
    calls: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def send(self, request: web.Request) -> web.Response:
        self.calls.append(
            (str(request.url), request.headers.get("Authorization", ""), await request.read())
        )
        status = self.statuses.pop(0) if self.statuses else 202
        if status == 202:
            return web.Response(status=202)
        return web.json_response({"code": "Failed", "status": status}, status=status)


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, str]]:
    state = Service()
    route = web.post("/base/api/hubs/{hub}/groups/{group}/:send", state.send)
    async with serve_routes(route) as origin:
        yield state, f"{origin}/base"


async def test_key_signed_send_carries_a_token_for_its_exact_url(
    service: tuple[Service, str],
) -> None:
    state, endpoint = service
    sender = RestSender.from_connection_string(
        f"Endpoint={endpoint};AccessKey={KEY};Version=1.0;", "ticks"
    )
    try:
        await sender.send_to_group("ticks.BRK.B", '{"n":1}')
    finally:
        await sender.close()
    url, authorization, body = state.calls[0]
    assert url == f"{endpoint}/api/hubs/ticks/groups/ticks.BRK.B/:send?api-version=2024-12-01"
    assert body == b'{"n":1}'
    claims = jwt.decode(
        authorization.removeprefix("Bearer "), KEY, algorithms=["HS256"], audience=url
    )
    assert claims["exp"] > time.time() + AccessKeyTokens.RENEW_BEFORE_SECONDS


async def test_429_and_5xx_are_retried_and_4xx_is_not(service: tuple[Service, str]) -> None:
    state, endpoint = service
    sender = RestSender(endpoint, "ticks", AccessKeyTokens(KEY), attempts=3)
    try:
        state.statuses = [503, 429]
        await sender.send_to_group("ticks.AAPL", '{"n":1}')
        assert len(state.calls) == 3
        state.statuses = [400]
        with pytest.raises(WebPubSubSendError, match="HTTP 400"):
            await sender.send_to_group("ticks.AAPL", '{"n":2}')
        assert len(state.calls) == 4
        state.statuses = [500, 500, 500]
        with pytest.raises(WebPubSubSendError, match="HTTP 500"):
            await sender.send_to_group("ticks.AAPL", '{"n":3}')
        assert len(state.calls) == 7
    finally:
        await sender.close()


async def test_a_connection_string_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="AccessKey"):
        RestSender.from_connection_string("Endpoint=http://127.0.0.1:1;Version=1.0;", "ticks")


class CountingCredential:
    """An azure-identity-shaped async credential minting numbered tokens."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"entra-{len(self.scopes)}", int(time.time() + self.lifetime))

    async def close(self) -> None:
        self.closed = True


async def test_entra_token_is_fetched_once_and_renewed_near_expiry(
    service: tuple[Service, str],
) -> None:
    state, endpoint = service
    lasting = CountingCredential(lifetime=3600)
    sender = RestSender(endpoint, "ticks", EntraTokens(lasting))  # type: ignore[arg-type]
    for n in range(3):
        await sender.send_to_group("ticks.AAPL", f'{{"n":{n}}}')
    await sender.close()
    assert lasting.scopes == [(ENTRA_SCOPE,)]
    assert lasting.closed
    assert {auth for _, auth, _ in state.calls} == {"Bearer entra-1"}

    expiring = CountingCredential(lifetime=60)
    sender = RestSender(endpoint, "ticks", EntraTokens(expiring))  # type: ignore[arg-type]
    await sender.send_to_group("ticks.AAPL", "{}")
    await sender.send_to_group("ticks.AAPL", "{}")
    await sender.close()
    assert len(expiring.scopes) == 2
    assert [auth for _, auth, _ in state.calls[3:]] == ["Bearer entra-1", "Bearer entra-2"]


class SlowCredential(CountingCredential):
    """Takes a moment to answer, and fails when told to."""

    def __init__(self, lifetime: float) -> None:
        super().__init__(lifetime)
        self.fail = False

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        await asyncio.sleep(0.05)
        if self.fail:
            raise ConnectionError("identity endpoint unreachable")
        return await super().get_token(*scopes, **kwargs)


async def test_concurrent_sends_share_one_renewal_and_survive_a_failed_one() -> None:
    credential = SlowCredential(lifetime=3600)
    tokens = EntraTokens(credential)  # type: ignore[arg-type]
    headers = await asyncio.gather(*(tokens.header("u") for _ in range(100)))
    assert set(headers) == {"Bearer entra-1"}
    assert len(credential.scopes) == 1

    tokens._expires = time.time() + 120
    credential.fail = True
    assert await tokens.header("u") == "Bearer entra-1"
    tokens._expires = time.time() + 10
    with pytest.raises(ConnectionError):
        await tokens.header("u")
    credential.fail = False
    assert await tokens.header("u") == "Bearer entra-2"
