"""GET /api/feed/negotiate through the local host: a client URL that joins only its groups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from azure.messaging.webpubsubclient.aio import WebPubSubClient
from azure.messaging.webpubsubclient.models import SendMessageError

from devhost.__main__ import setting_values
from devhost.host import DevHost
from devhost.webpubsub import WebPubSubPlugin
from shared.config import get_settings
from shared.storage.factory import document_store
from testsupport.auth import auth_headers
from testsupport.host import in_process_host
from testsupport.routes import assert_problem

pytestmark = [pytest.mark.timeout(60), pytest.mark.e2e]


@pytest.fixture
async def host(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DevHost]:
    monkeypatch.setenv("RELAY_IN_DEVHOST", "false")
    monkeypatch.setenv("WEBPUBSUB_CONNECTION_STRING", "")
    monkeypatch.setenv("FEED_TOKEN_MINUTES", "3")
    values = setting_values(get_settings())
    plugins = [WebPubSubPlugin()]
    async with in_process_host("function_app:app", plugins=plugins, settings=values) as running:
        yield running


async def negotiate(host: DevHost, query: str, role: str | None = "viewer", account: str = "alice"):
    headers = auth_headers(role, account) if role else {}
    async with httpx.AsyncClient(base_url=host.base_url) as client:
        return await client.get(f"/api/feed/negotiate{query}", headers=headers)


async def test_negotiate_returns_a_short_lived_url_for_ticks_groups_only(host: DevHost) -> None:
    response = await negotiate(host, "?symbols=aapl,BTC-USD")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["groups"] == ["ticks.AAPL", "ticks.BTC-USD"]
    assert body["protocol"] == "json.webpubsub.azure.v1"
    assert body["url"].startswith(f"ws://127.0.0.1:{host.port}/client/hubs/ticks?access_token=")
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(body["url"].split("access_token=")[1], options={"verify_signature": False})
    assert claims["role"] == [
        "webpubsub.joinLeaveGroup.ticks.AAPL",
        "webpubsub.joinLeaveGroup.ticks.BTC-USD",
    ]
    assert claims["exp"] - claims["iat"] == 180
    assert claims["sub"] == "alice"

    client = WebPubSubClient(body["url"], message_retry_total=0)
    async with client:
        await client.join_group("ticks.AAPL")
        with pytest.raises(SendMessageError):
            await client.join_group("ticks.TSLA")
        with pytest.raises(SendMessageError):
            await client.join_group("ticks._all")


async def test_negotiate_without_symbols_uses_my_watchlists_and_the_defaults(host: DevHost) -> None:
    store = document_store()
    store.upsert("watchlists", {"id": "w1", "pk": "alice", "name": "a", "symbols": ["NVDA"]})
    store.upsert("watchlists", {"id": "w2", "pk": "bob", "name": "b", "symbols": ["AMD"]})
    body = (await negotiate(host, "")).json()
    assert "ticks.NVDA" in body["groups"]
    assert "ticks.AMD" not in body["groups"]
    assert "ticks.AAPL" in body["groups"]
    all_body = (await negotiate(host, "?symbols=AAPL&all=true")).json()
    assert all_body["groups"] == ["ticks.AAPL", "ticks._all"]


async def test_negotiate_refusals(host: DevHost) -> None:
    document_store().upsert(
        "watchlists",
        {
            "id": "wl-bob",
            "pk": "bob",
            "name": "b",
            "symbols": ["AMD"],
            "createdAt": "2026-01-01T00:00:00+00:00",
            "updatedAt": "2026-01-01T00:00:00+00:00",
        },
    )
    assert (await negotiate(host, "?symbols=AAPL", role=None)).status_code == 401
    others = await negotiate(host, "?watchlist=wl-bob")
    assert_problem(others, 404, "Not found", "wl-bob")
    assert (await negotiate(host, "?watchlist=wl-bob", account="bob")).status_code == 200
    bad = await negotiate(host, "?symbols=not%20a%20symbol!")
    assert_problem(bad, 422, "Invalid input", "unknown symbol 'not a symbol!'")
    many = ",".join(f"S{i}" for i in range(101))
    too_many = await negotiate(host, f"?symbols={many}")
    assert_problem(too_many, 422, "Invalid input", "101 symbols; the feed allows at most 100")


async def test_index_symbols_and_their_aliases_negotiate_and_join(host: DevHost) -> None:
    for query in ("?symbols=%5EGSPC", "?symbols=SPX", "?symbols=spx,%5Egspc"):
        response = await negotiate(host, query)
        assert response.status_code == 200, (query, response.text)
        assert response.json()["groups"] == ["ticks.^GSPC"], query
        assert response.json()["symbols"] == ["^GSPC"], query
    body = (await negotiate(host, "?symbols=SPX,IXIC")).json()
    client = WebPubSubClient(body["url"], message_retry_total=0)
    async with client:
        await client.join_group("ticks.^GSPC")
        await client.join_group("ticks.^IXIC")


async def test_an_index_in_a_watchlist_keeps_the_default_feed_working(host: DevHost) -> None:
    document_store().upsert(
        "watchlists",
        {
            "id": "w-idx",
            "pk": "alice",
            "name": "idx",
            "symbols": ["^GSPC", "AAPL"],
            "createdAt": "2026-01-01T00:00:00+00:00",
            "updatedAt": "2026-01-01T00:00:00+00:00",
        },
    )
    response = await negotiate(host, "")
    assert response.status_code == 200, response.text
    assert "ticks.^GSPC" in response.json()["groups"]
    by_id = await negotiate(host, "?watchlist=w-idx")
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["groups"] == ["ticks.^GSPC", "ticks.AAPL"]
