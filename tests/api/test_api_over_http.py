"""The API through the real local host: dev issuer endpoints, racing orders, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from shared.auth import dev_issuer
from shared.config import get_settings
from shared.storage.documents_sqlite import SqliteDocumentStore
from testsupport.auth import auth_headers
from testsupport.host import RunningHost, start_host
from testsupport.routes import assert_problem, put_quote

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHost, Path]]:
    data = tmp_path_factory.mktemp("api-host")
    with start_host(env={"LOCAL_DATA_DIR": str(data)}) as host:
        yield host, data


async def test_the_host_serves_the_dev_issuer_and_its_keys_verify_minted_tokens(running):
    host, _ = running
    served = f"{host.base_url}/dev-issuer"
    async with httpx.AsyncClient() as client:
        discovery = (await client.get(f"{served}/.well-known/openid-configuration")).json()
        # start_host gives every host this process's DEV_ISSUER (the exact 'iss' it trusts)
        assert discovery["issuer"] == get_settings().dev_issuer_url
        assert discovery["jwks_uri"] == f"{served}/jwks"
        jwks = (await client.get(discovery["jwks_uri"])).json()
    token = auth_headers("trader", "alice")["Authorization"].split()[1]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="api://tradingjournal")
    assert claims["sub"] == "alice"
    assert kid == dev_issuer.dev_key().kid


async def test_twenty_concurrent_orders_never_take_cash_below_zero(running):
    host, data = running
    put_quote(SqliteDocumentStore(data / "documents.sqlite3"), "AAPL", 100.0)
    headers = auth_headers("trader", "race")
    async with httpx.AsyncClient(
        base_url=f"{host.base_url}/api", headers=headers, timeout=60
    ) as client:
        created = await client.post("/paper/accounts", json={"startingCash": 1000})
        account_id = created.json()["id"]
        order = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}
        replies = await asyncio.gather(
            *[client.post(f"/paper/accounts/{account_id}/orders", json=order) for _ in range(20)]
        )
        statuses = [reply.status_code for reply in replies]
        view = (await client.get(f"/paper/accounts/{account_id}")).json()
        orders = (
            await client.get(f"/paper/accounts/{account_id}/orders", params={"limit": 100})
        ).json()["items"]
    assert set(statuses) == {201, 422}, statuses
    filled = [o for o in orders if o["status"] == "filled"]
    assert len(filled) == statuses.count(201) == 9
    assert view["cash"] >= 0
    assert view["reservedCash"] == 0
    assert view["positions"][0]["qty"] == 9
    assert view["cash"] == pytest.approx(1000 - sum(o["fillPrice"] for o in filled))


async def test_concurrent_retries_with_one_idempotency_key_place_one_order(running):
    host, data = running
    put_quote(SqliteDocumentStore(data / "documents.sqlite3"), "MSFT", 300.0)
    headers = {**auth_headers("trader", "retry"), "Idempotency-Key": "k-42"}
    async with httpx.AsyncClient(
        base_url=f"{host.base_url}/api", headers=headers, timeout=60
    ) as client:
        account_id = (await client.post("/paper/accounts", json={})).json()["id"]
        order = {"symbol": "MSFT", "side": "buy", "type": "market", "qty": 2}
        url = f"/paper/accounts/{account_id}/orders"
        replies = await asyncio.gather(*[client.post(url, json=order) for _ in range(6)])
        retry = await client.post(url, json=order)
        orders = (await client.get(url)).json()["items"]
    ids = {reply.json()["id"] for reply in [*replies, retry] if reply.status_code == 201}
    assert len(ids) == 1
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(orders) == 1


async def test_errors_are_problem_json_with_a_server_request_id_and_the_client_id_echoed(
    running,
):
    host, _ = running
    async with httpx.AsyncClient(base_url=f"{host.base_url}/api") as client:
        reply = await client.get("/watchlists", headers={"X-Request-Id": "req-123"})
        bad = await client.post(
            "/watchlists", headers=auth_headers("trader", "x"), content=b"{not json"
        )
    assert reply.status_code == 401
    assert len(reply.headers["X-Request-Id"]) == 32
    assert reply.headers["X-Request-Id"] != "req-123"
    assert reply.headers["X-Client-Request-Id"] == "req-123"
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(bad, 422, "Invalid input", "body: Invalid JSON: key must be a string")
    assert len(bad.headers["X-Request-Id"]) == 32


async def test_the_host_trusts_a_configured_oidc_issuer_and_caches_its_keys(tmp_path):
    from tests.support.oidc_issuer import LocalIssuer

    issuer = LocalIssuer(audience="api://tradingjournal")
    issuer.add_key("k1", "ES256")
    await issuer.start()
    try:
        env = {"LOCAL_DATA_DIR": str(tmp_path / "data"), "AUTH_ISSUERS": issuer.url}
        host = await asyncio.to_thread(start_host, env)
        try:
            async with httpx.AsyncClient(base_url=f"{host.base_url}/api", timeout=30) as client:

                async def get(token: str) -> httpx.Response:
                    return await client.get(
                        "/watchlists", headers={"Authorization": f"Bearer {token}"}
                    )

                ok = [await get(issuer.mint("k1", sub="erin", roles="viewer")) for _ in range(3)]
                assert [r.status_code for r in ok] == [200, 200, 200]
                assert issuer.jwks_hits == 1, "keys are fetched once and cached"
                issuer.add_key("k2", "RS256", published=False)
                unknown = await get(issuer.mint("k2"))
                assert unknown.status_code == 401
                assert "k2" in unknown.json()["detail"]
                expired = await get(issuer.mint("k1", exp_in=-3600))
                assert expired.status_code == 401
                wrong_aud = await get(issuer.mint("k1", aud="api://elsewhere"))
                assert wrong_aud.status_code == 401
                low = await client.post(
                    "/watchlists",
                    json={"name": "x"},
                    headers={"Authorization": f"Bearer {issuer.mint('k1', roles='viewer')}"},
                )
                assert low.status_code == 403
        finally:
            await asyncio.to_thread(host.stop)
    finally:
        await issuer.stop()
