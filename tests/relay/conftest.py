"""Fixtures for relay tests: a Finnhub-protocol server, the Web PubSub stand-in, a relay
running in this event loop, and a real Web PubSub client subscribed through the stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from azure.messaging.webpubsubclient.aio import WebPubSubClient
from azure.messaging.webpubsubclient.models import CallbackType
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from containerapps.relay.senders import RestSender
from containerapps.relay.service import Relay
from containerapps.relay.settings import RelaySettings
from devhost.webpubsub.finnhub import FinnhubServer
from devhost.webpubsub.standin import StandInServer
from shared.config import load_settings
from shared.feed.groups import group_for, join_role
from shared.feed.trades import Trade

ACCESS_KEY = "relay-tests-access-key-0123456789abcdef"
KEYS = ("key-one", "key-two")


@pytest.fixture
async def standin() -> AsyncIterator[StandInServer]:
    server = await StandInServer(ACCESS_KEY).start()
    yield server
    await server.stop()


@pytest.fixture
async def finnhub() -> AsyncIterator[FinnhubServer]:
    server = await FinnhubServer(api_keys=KEYS).start()
    yield server
    await server.stop()


RelayFactory = Callable[..., Awaitable[Relay]]


@pytest.fixture
async def make_relay(
    standin: StandInServer, finnhub: FinnhubServer, tmp_path: Path
) -> AsyncIterator[RelayFactory]:
    """Start a relay against `finnhub` and `standin`; keyword arguments override settings."""
    started: list[Relay] = []

    async def make(**overrides: Any) -> Relay:
        values: dict[str, Any] = {
            "finnhub_api_keys": [KEYS[0]],
            "finnhub_ws_url": finnhub.url,
            "relay_id": "test",
            "relay_batch_ms": 20,
            "relay_heartbeat_seconds": 5.0,
            "relay_backoff_initial_seconds": 0.05,
            "relay_backoff_max_seconds": 0.5,
            "relay_archive_flush_seconds": 0.5,
            "relay_quote_seconds": 0.2,
            "relay_spool_dir": tmp_path / "spool",
            "relay_http_host": "127.0.0.1",
            "relay_http_port": 0,
            "relay_extra_symbols": [],
        }
        values.update(overrides)
        settings = load_settings(default_symbols=values.pop("default_symbols", ["AAPL", "MSFT"]))
        relay = Relay(
            RelaySettings(**values),
            settings,
            sender=RestSender.from_connection_string(standin.connection_string(), "ticks"),
        )
        await relay.start()
        started.append(relay)
        return relay

    yield make
    for relay in started:
        with contextlib.suppress(Exception):
            await relay.stop()


class Subscriber:
    """A real azure-messaging-webpubsubclient client joined to symbol groups."""

    def __init__(self, url: str) -> None:
        self.client = WebPubSubClient(url)
        self.messages: list[dict[str, Any]] = []

    async def _on_message(self, event: Any) -> None:
        self.messages.append({"group": event.group, "data": event.data})

    async def open(self, groups: list[str]) -> Subscriber:
        await self.client.open()
        await self.client.subscribe(CallbackType.GROUP_MESSAGE, self._on_message)
        for group in groups:
            await self.client.join_group(group)
        return self

    async def close(self) -> None:
        await self.client.close()

    def trades(self, symbol: str) -> list[tuple[float, int]]:
        """(price, ts) of every trade received in the symbol's own group, in arrival order."""
        found: list[tuple[float, int]] = []
        for message in self.messages:
            if message["group"] != group_for(symbol):
                continue
            for batch in message["data"]["batches"]:
                found.extend((t["p"], t["t"]) for t in batch["trades"])
        return found


@pytest.fixture
async def subscribe(standin: StandInServer) -> AsyncIterator[Callable[..., Awaitable[Subscriber]]]:
    opened: list[Subscriber] = []

    async def open_(symbols: list[str], extra_groups: tuple[str, ...] = ()) -> Subscriber:
        service = WebPubSubServiceClient.from_connection_string(
            standin.connection_string(), hub="ticks"
        )
        groups = [group_for(s) for s in symbols] + list(extra_groups)
        token = await service.get_client_access_token(
            roles=[join_role(g) for g in groups], minutes_to_expire=5
        )
        await service.close()
        subscriber = await Subscriber(token["url"]).open(groups)
        opened.append(subscriber)
        return subscriber

    yield open_
    for subscriber in opened:
        with contextlib.suppress(Exception):
            await subscriber.close()


def make_trades(symbol: str, count: int, start_price: float = 100.0) -> list[Trade]:
    now = int(time.time() * 1000)
    return [Trade(symbol, round(start_price + i * 0.01, 2), 1.0 + i, now + i) for i in range(count)]


async def eventually(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait until `predicate()` holds (polling), else fail with a timeout."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit:.1f} s")
        await asyncio.sleep(0.02)
