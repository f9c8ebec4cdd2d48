"""The Web PubSub stand-in refuses what the service refuses and delivers what it delivers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from devhost.webpubsub.standin import JSON_PROTOCOL, RELIABLE_PROTOCOL, StandInServer

pytestmark = pytest.mark.timeout(30)
KEY = "standin-test-access-key-0123456789abcdef"


@pytest.fixture
async def server() -> AsyncIterator[StandInServer]:
    started = await StandInServer(KEY).start()
    yield started
    await started.stop()


def bearer(key: str, aud: str, exp_offset: float = 60) -> dict[str, str]:
    token = jwt.encode({"aud": aud, "exp": int(time.time() + exp_offset)}, key, algorithm="HS256")
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def client_token(server: StandInServer, *, key: str = KEY, aud: str | None = None, **claims):
    payload = {
        "aud": aud or f"{server.endpoint}/client/hubs/ticks",
        "exp": int(time.time() + 60),
        **claims,
    }
    return jwt.encode(payload, key, algorithm="HS256")


async def test_rest_send_needs_signature_audience_and_expiry(server: StandInServer) -> None:
    url = f"{server.endpoint}/api/hubs/ticks/groups/ticks.AAPL/:send?api-version=2024-12-01"
    async with aiohttp.ClientSession() as http:
        cases = {
            "valid": (bearer(KEY, url), 202),
            "wrong signature": (bearer("another-key-0123456789abcdef0123456789", url), 401),
            "wrong audience": (bearer(KEY, url.replace("AAPL", "MSFT")), 401),
            "expired": (bearer(KEY, url, exp_offset=-5), 401),
            "no token": ({"Content-Type": "application/json"}, 401),
        }
        for name, (headers, expected) in cases.items():
            async with http.post(url, data=b'{"x":1}', headers=headers) as response:
                assert response.status == expected, name


async def test_service_sdk_calls_get_the_statuses_it_requires(server: StandInServer) -> None:
    service = WebPubSubServiceClient.from_connection_string(server.connection_string(), "ticks")
    async with aiohttp.ClientSession() as http:
        token = await service.get_client_access_token(roles=["webpubsub.joinLeaveGroup"])
        async with http.ws_connect(token["url"], protocols=(JSON_PROTOCOL,)) as ws:
            connected = json.loads((await ws.receive()).data)
            connection_id = connected["connectionId"]
            await service.add_connection_to_group("ticks.AAPL", connection_id)
            await service.send_to_group("ticks.AAPL", {"n": 1}, content_type="application/json")
            await service.send_to_all("hello", content_type="text/plain")
            first = json.loads((await ws.receive()).data)
            second = json.loads((await ws.receive()).data)
            assert first == {
                "type": "message",
                "from": "group",
                "group": "ticks.AAPL",
                "dataType": "json",
                "data": {"n": 1},
            }
            assert second["dataType"] == "text"
            assert second["data"] == "hello"
            await service.remove_connection_from_group("ticks.AAPL", connection_id)
            assert not server.standin.hub("ticks").groups
            await service.close_all_connections(reason="maintenance")
            closing = json.loads((await ws.receive()).data)
            assert closing == {"type": "system", "event": "disconnected", "message": "maintenance"}
    bad = WebPubSubServiceClient.from_connection_string(
        server.connection_string().replace(KEY, "not-the-key-0123456789abcdef0123456789"), "ticks"
    )
    with pytest.raises(ClientAuthenticationError):
        await bad.send_to_all({"x": 1})
    await bad.close()
    await service.close()


async def test_client_socket_refuses_bad_tokens(server: StandInServer) -> None:
    url = f"{server.endpoint}/client/hubs/ticks?access_token="
    bad_tokens = {
        "wrong signature": client_token(server, key="wrong-key-0123456789abcdef0123456789"),
        "wrong audience": client_token(server, aud=f"{server.endpoint}/client/hubs/other"),
        "expired": jwt.encode(
            {"aud": f"{server.endpoint}/client/hubs/ticks", "exp": int(time.time()) - 5},
            KEY,
            algorithm="HS256",
        ),
    }
    async with aiohttp.ClientSession() as http:
        for name, token in bad_tokens.items():
            with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
                await http.ws_connect(url + token, protocols=(JSON_PROTOCOL,))
            assert raised.value.status == 401, name
        async with http.ws_connect(url + client_token(server), protocols=(JSON_PROTOCOL,)) as ws:
            assert ws.protocol == JSON_PROTOCOL


async def test_join_rules_acks_and_group_delivery_between_clients(server: StandInServer) -> None:
    url = f"{server.endpoint}/client/hubs/ticks?access_token="
    sender_token = client_token(
        server, sub="bob", role=["webpubsub.joinLeaveGroup.ticks.AAPL", "webpubsub.sendToGroup"]
    )
    reader_token = client_token(server, sub="ann", role=["webpubsub.joinLeaveGroup.ticks.AAPL"])
    async with aiohttp.ClientSession() as http:
        sender = await http.ws_connect(url + sender_token, protocols=(JSON_PROTOCOL,))
        reader = await http.ws_connect(url + reader_token, protocols=(RELIABLE_PROTOCOL,))
        assert reader.protocol == RELIABLE_PROTOCOL
        hello = json.loads((await reader.receive()).data)
        assert hello["event"] == "connected"
        assert hello["userId"] == "ann"
        assert hello["reconnectionToken"]
        await sender.receive()

        await reader.send_json({"type": "joinGroup", "group": "ticks.AAPL", "ackId": 1})
        ack = json.loads((await reader.receive()).data)
        assert ack == {"type": "ack", "ackId": 1, "success": True}
        await reader.send_json({"type": "joinGroup", "group": "ticks.TSLA", "ackId": 2})
        refused = json.loads((await reader.receive()).data)
        assert refused["success"] is False
        assert refused["error"]["name"] == "Forbidden"
        await reader.send_json(
            {"type": "sendToGroup", "group": "ticks.AAPL", "ackId": 3, "data": 1}
        )
        assert json.loads((await reader.receive()).data)["error"]["name"] == "Forbidden"

        for n in (1, 2):
            await sender.send_json(
                {
                    "type": "sendToGroup",
                    "group": "ticks.AAPL",
                    "ackId": n,
                    "dataType": "json",
                    "data": {"n": n},
                }
            )
            assert json.loads((await sender.receive()).data)["success"] is True
        got = [json.loads((await reader.receive()).data) for _ in range(2)]
        assert [m["data"] for m in got] == [{"n": 1}, {"n": 2}]
        assert [m["sequenceId"] for m in got] == [1, 2]
        assert got[0]["fromUserId"] == "bob"

        await reader.send_json({"type": "leaveGroup", "group": "ticks.AAPL", "ackId": 4})
        assert json.loads((await reader.receive()).data)["success"] is True
        await sender.send_json(
            {"type": "sendToGroup", "group": "ticks.AAPL", "dataType": "json", "data": 3}
        )
        with pytest.raises(asyncio.TimeoutError):
            await reader.receive(timeout=0.3)
        await sender.close()
        await reader.close()


async def test_reliable_connections_recover_with_their_groups(server: StandInServer) -> None:
    base = f"{server.endpoint}/client/hubs/ticks?access_token="
    token = client_token(server, role=["webpubsub.joinLeaveGroup"])
    service = WebPubSubServiceClient.from_connection_string(server.connection_string(), "ticks")
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(base + token, protocols=(RELIABLE_PROTOCOL,))
        hello = json.loads((await first.receive()).data)
        await first.send_json({"type": "joinGroup", "group": "ticks.AAPL", "ackId": 1})
        await first.receive()
        await first.close(code=1011)
        await asyncio.sleep(0.05)
        await service.send_to_group("ticks.AAPL", {"n": 1}, content_type="application/json")

        recovery = (
            f"{base}{token}&awps_connection_id={hello['connectionId']}"
            f"&awps_reconnection_token={hello['reconnectionToken']}"
        )
        again = await http.ws_connect(recovery, protocols=(RELIABLE_PROTOCOL,))
        await service.send_to_group("ticks.AAPL", {"n": 2}, content_type="application/json")
        got = [json.loads((await again.receive(timeout=2)).data) for _ in range(2)]
        assert [m["data"] for m in got] == [{"n": 1}, {"n": 2}], "held while detached"
        assert [m["sequenceId"] for m in got] == [1, 2]
        await again.close()

        forged = await http.ws_connect(
            f"{base}{token}&awps_connection_id={hello['connectionId']}&awps_reconnection_token=x",
            protocols=(RELIABLE_PROTOCOL,),
        )
        closing = await forged.receive(timeout=2)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == 1008
    await service.close()
