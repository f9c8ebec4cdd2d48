"""Finnhub frame parsing, and the publisher's batching, ordering and conflation."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import jwt
import pytest

from containerapps.relay.publisher import TickPublisher
from shared.feed.groups import ALL_TICKS_GROUP, from_finnhub, group_for, to_finnhub
from shared.feed.trades import MalformedMessageError, Trade, TradeSequencer, parse_finnhub

pytestmark = pytest.mark.timeout(30)


class RecordingSender:
    """A GroupSender that records what it was asked to send and can be held up."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send_to_group(self, group: str, payload: str) -> None:
        await self.gate.wait()
        self.sent.append((group, json.loads(payload)))

    async def close(self) -> None:
        return None

    def prices(self, group: str) -> list[float]:
        return [
            t["p"] for g, m in self.sent if g == group for b in m["batches"] for t in b["trades"]
        ]


def test_parse_finnhub_frames() -> None:
    sequencer = TradeSequencer()
    frame = json.dumps(
        {
            "type": "trade",
            "data": [
                {"s": "BINANCE:BTCUSDT", "p": 97000.5, "v": 0.01, "t": 1700000000000, "c": None},
                {"s": "AAPL", "p": 190, "v": 10, "t": 1700000000001, "c": ["1", "12"]},
                {"s": "AAPL", "p": 190, "v": 10, "t": 1700000000001, "c": ["1", "12"]},
                {"s": "AAPL", "p": "bad", "t": 1},
            ],
        }
    )
    message = parse_finnhub(frame, sequencer, {"BINANCE:BTCUSDT": "BTC-USD"})
    assert message.kind == "trade"
    assert [(t.symbol, t.seq) for t in message.trades] == [("BTC-USD", 0), ("AAPL", 0), ("AAPL", 1)]
    assert message.trades[1].conditions == ("1", "12")
    again = parse_finnhub(frame, TradeSequencer())
    assert [t.seq for t in again.trades] == [0, 0, 1]
    assert parse_finnhub('{"type":"ping"}', sequencer).kind == "ping"
    error = parse_finnhub('{"type":"error","msg":"Invalid API key"}', sequencer)
    assert (error.kind, error.error) == ("error", "Invalid API key")
    assert parse_finnhub('{"type":"news"}', sequencer).kind == "unknown"
    for bad in ("{nope", "[1,2]", '{"type":"trade","data":{}}'):
        with pytest.raises(MalformedMessageError):
            parse_finnhub(bad, sequencer)


def test_trades_with_an_implausible_time_value_or_symbol_are_skipped() -> None:
    good = {"s": "AAPL", "p": 190.5, "v": 1, "t": 1700000000000}
    entries = [
        good,
        {**good, "t": 1},
        {**good, "t": 10**20},
        {**good, "s": "aapl x"},
        {**good, "s": ["AAPL"]},
        {**good, "s": "BINANCE:ETHUSDT"},
    ]
    frame = json.dumps({"type": "trade", "data": entries})
    message = parse_finnhub(frame, TradeSequencer(), {"BINANCE:ETHUSDT": "ETH-USD"})
    assert [(t.symbol, t.ts_ms) for t in message.trades] == [
        ("AAPL", 1700000000000),
        ("ETH-USD", 1700000000000),
    ]


def test_symbol_mapping_round_trips() -> None:
    assert to_finnhub("btc-usd") == "BINANCE:BTCUSDT"
    assert from_finnhub("BINANCE:ETHUSDT") == "ETH-USD"
    assert to_finnhub("AAPL") == from_finnhub("AAPL") == "AAPL"
    assert group_for("brk.b") == "ticks.BRK.B"


async def test_one_message_per_symbol_per_window_plus_the_all_ticks_group() -> None:
    sender = RecordingSender()
    publisher = TickPublisher(sender, window_seconds=0.05)
    await publisher.start()
    publisher.offer([Trade("AAPL", 100.0 + i, 1.0, 1000 + i) for i in range(30)])
    publisher.offer([Trade("MSFT", 400.0 + i, 1.0, 1000 + i) for i in range(20)])
    await asyncio.sleep(0.2)
    await publisher.stop()
    groups = sorted(group for group, _ in sender.sent)
    assert groups == sorted([ALL_TICKS_GROUP, "ticks.AAPL", "ticks.MSFT"])
    assert sender.prices("ticks.AAPL") == [100.0 + i for i in range(30)]
    assert len(sender.prices(ALL_TICKS_GROUP)) == 50
    assert publisher.stats.trades_out == 50


async def test_a_slow_service_conflates_the_live_feed_to_the_latest_trade() -> None:
    sender = RecordingSender()
    sender.gate.clear()
    publisher = TickPublisher(sender, window_seconds=0.02, max_batch=5, all_ticks_group=False)
    await publisher.start()
    publisher.offer([Trade("AAPL", 1.0, 1.0, 1)])
    await asyncio.sleep(0.06)
    publisher.offer([Trade("AAPL", 2.0, 1.0, 2)])
    await asyncio.sleep(0.06)
    for price in range(3, 40):
        publisher.offer([Trade("AAPL", float(price), 1.0, price)])
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)
    assert publisher.stats.conflated > 0
    sender.gate.set()
    await asyncio.sleep(0.2)
    await publisher.stop()
    prices = sender.prices("ticks.AAPL")
    assert prices == sorted(prices), "conflation reordered trades"
    assert prices[-1] == 39.0
    assert len(prices) + publisher.stats.conflated == 39
    skipped = sum(b["conflated"] for _, m in sender.sent for b in m["batches"])
    assert skipped == publisher.stats.conflated


async def test_a_slow_service_gets_bigger_messages_not_more_of_them() -> None:
    sender = RecordingSender()
    sender.gate.clear()
    publisher = TickPublisher(sender, window_seconds=0.01, all_ticks_group=False)
    await publisher.start()
    for price in range(1, 101):
        publisher.offer([Trade("AAPL", float(price), 1.0, price)])
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.05)
    sender.gate.set()
    await asyncio.sleep(0.1)
    await publisher.stop()
    assert sender.prices("ticks.AAPL") == [float(p) for p in range(1, 101)]
    assert publisher.stats.conflated == 0
    assert len(sender.sent) <= 4


async def test_trades_waiting_longer_than_the_max_delay_conflate() -> None:
    sender = RecordingSender()
    sender.gate.clear()
    publisher = TickPublisher(
        sender,
        window_seconds=0.01,
        max_delay_seconds=0.05,
        all_ticks_group=False,
    )
    await publisher.start()
    for price in range(1, 61):
        publisher.offer([Trade("AAPL", float(price), 1.0, price)])
        await asyncio.sleep(0.005)
    sender.gate.set()
    await asyncio.sleep(0.1)
    await publisher.stop()
    prices = sender.prices("ticks.AAPL")
    assert publisher.stats.conflated > 20
    assert prices[-1] == 60.0
    assert prices == sorted(prices)
    assert len(prices) + publisher.stats.conflated == 60


class FailingSender(RecordingSender):
    """Fails every send to the groups in `failing`; can hang every send."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    async def send_to_group(self, group: str, payload: str) -> None:
        if group in self.failing:
            raise ConnectionError("service unavailable")
        await super().send_to_group(group, payload)


async def test_trades_the_live_feed_loses_are_counted_as_dropped() -> None:
    sender = FailingSender({group_for("MSFT")})
    publisher = TickPublisher(sender, window_seconds=0.01, all_ticks_group=False)
    await publisher.start()
    publisher.offer([Trade("AAPL", 1.0, 1.0, 1), Trade("MSFT", 2.0, 1.0, 1)])
    publisher.offer([Trade("MSFT", 3.0, 1.0, 2), Trade("bad symbol", 4.0, 1.0, 2)])
    await asyncio.sleep(0.1)
    assert sender.prices(group_for("AAPL")) == [1.0]
    assert publisher.stats.dropped == 3
    assert publisher.stats.trades_out == 1

    sender.gate.clear()
    publisher.offer([Trade("AAPL", 5.0, 1.0, 3)])
    await asyncio.sleep(0.05)
    publisher.offer([Trade("AAPL", 6.0, 1.0, 4), Trade("AAPL", 7.0, 1.0, 5)])
    await publisher.stop(drain_seconds=0.1)
    assert publisher.stats.dropped == 3 + 3
    assert publisher.stats.trades_out + publisher.stats.dropped == 7


async def test_key_and_sdk_senders_deliver_to_a_group_through_the_standin() -> None:
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

    from containerapps.relay.senders import (
        AccessKeyTokens,
        RestSender,
        WebPubSubSender,
        WebPubSubSendError,
    )
    from devhost.webpubsub.standin import JSON_PROTOCOL, StandInServer

    key = "publisher-tests-access-key-0123456789abcdef"
    server = await StandInServer(key).start()
    service = WebPubSubServiceClient.from_connection_string(server.connection_string(), "ticks")
    lean = RestSender.from_connection_string(server.connection_string(), "ticks")
    sdk = WebPubSubSender.from_connection_string(server.connection_string(), "ticks")
    wrong = RestSender.from_connection_string(
        server.connection_string().replace(key, "not-the-key-0123456789abcdef01234567"), "ticks"
    )
    try:
        token = await service.get_client_access_token(roles=["webpubsub.joinLeaveGroup"])
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(token["url"], protocols=(JSON_PROTOCOL,)) as ws,
        ):
            connected = json.loads((await ws.receive()).data)
            await service.add_connection_to_group("ticks.AAPL", connected["connectionId"])
            await lean.send_to_group("ticks.AAPL", '{"n":1}')
            await lean.send_to_group("ticks.AAPL", '{"n":2}')
            await sdk.send_to_group("ticks.AAPL", '{"n":3}')
            received = [json.loads((await ws.receive()).data)["data"]["n"] for _ in range(3)]
            assert received == [1, 2, 3]
        assert isinstance(lean.auth, AccessKeyTokens)
        url = next(iter(lean.auth.tokens))
        assert url == server.endpoint.rstrip("/") + (
            "/api/hubs/ticks/groups/ticks.AAPL/:send?api-version=2024-12-01"
        )
        assert lean.auth.token_for(url) == lean.auth.token_for(url)
        claims = jwt.decode(lean.auth.token_for(url), key, algorithms=["HS256"], audience=url)
        assert claims["exp"] > time.time() + AccessKeyTokens.RENEW_BEFORE_SECONDS
        assert lean.pool.open_connections == 1
        with pytest.raises(WebPubSubSendError, match="401"):
            await wrong.send_to_group("ticks.AAPL", '{"n":4}')
    finally:
        for closing in (lean, sdk, wrong):
            await closing.close()
        await service.close()
        await server.stop()


async def test_a_failed_send_reads_as_failing_until_a_success_or_a_minute_passes() -> None:
    publisher = TickPublisher(FailingSender({group_for("MSFT")}), all_ticks_group=False)
    assert not publisher.failing
    await publisher._send_window({"MSFT": ([Trade("MSFT", 1.0, 1.0, 1)], 0)})
    assert publisher.failing
    publisher.stats.last_error_at -= 61
    assert not publisher.failing
    await publisher._send_window({"MSFT": ([Trade("MSFT", 1.0, 1.0, 2)], 0)})
    assert publisher.failing
    await publisher._send_window({"AAPL": ([Trade("AAPL", 1.0, 1.0, 3)], 0)})
    assert not publisher.failing
