"""The Web PubSub stand-in answers a resent ackId as the service does: a `Duplicate` ack
(success false, error name "Duplicate"), without processing the message again."""

from __future__ import annotations

import json

import aiohttp
import pytest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from devhost.webpubsub.standin import StandInServer
from shared.feed.groups import group_for, join_role

pytestmark = pytest.mark.timeout(30)


async def test_a_resent_ack_id_gets_a_duplicate_ack(standin: StandInServer) -> None:
    group = group_for("AAPL")
    service = WebPubSubServiceClient.from_connection_string(
        standin.connection_string(), hub="ticks"
    )
    token = await service.get_client_access_token(
        roles=[join_role(group), f"webpubsub.sendToGroup.{group}"], minutes_to_expire=5
    )
    await service.close()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(token["url"], protocols=("json.webpubsub.azure.v1",)) as ws,
    ):
        connected = json.loads((await ws.receive()).data)
        assert connected["event"] == "connected"

        seen: list[int] = []

        async def ack_for(frame: dict[str, object]) -> dict[str, object]:
            await ws.send_str(json.dumps(frame))
            while True:
                message = json.loads((await ws.receive(timeout=5)).data)
                if message["type"] == "ack":
                    return message
                if message["type"] == "message":
                    seen.append(message["data"]["n"])

        join = {"type": "joinGroup", "group": group, "ackId": 1}
        assert await ack_for(join) == {"type": "ack", "ackId": 1, "success": True}
        again = await ack_for(join)
        assert again["success"] is False
        assert again["error"]["name"] == "Duplicate"  # type: ignore[index]

        send = {"type": "sendToGroup", "group": group, "ackId": 2, "data": {"n": 1}}
        assert (await ack_for(send))["success"] is True
        duplicate = await ack_for(send)
        assert duplicate["error"]["name"] == "Duplicate"  # type: ignore[index]
        # The message was delivered once, not twice.
        assert (await ack_for({**send, "ackId": 3, "data": {"n": 2}}))["success"] is True
        while len(seen) < 2:
            message = json.loads((await ws.receive(timeout=5)).data)
            if message["type"] == "message":
                seen.append(message["data"]["n"])
        assert seen == [1, 2]
