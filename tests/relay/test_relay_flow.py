"""The relay end to end on real sockets: Finnhub-protocol server → relay → stand-in → client."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from containerapps.relay.archive import read_ticks
from devhost.webpubsub.finnhub import FinnhubServer
from shared.feed.groups import ALL_TICKS_GROUP
from shared.storage.factory import document_store, lake
from tests.relay.conftest import eventually, make_trades

pytestmark = pytest.mark.timeout(60)


async def test_trades_reach_a_real_client_in_order_per_symbol(
    finnhub: FinnhubServer, make_relay, subscribe
) -> None:
    relay = await make_relay()
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT"})
    subscriber = await subscribe(["AAPL", "MSFT"], extra_groups=(ALL_TICKS_GROUP,))
    aapl = make_trades("AAPL", 300, 190.0)
    msft = make_trades("MSFT", 300, 410.0)
    for start in range(0, 300, 25):
        await finnhub.send_trades(aapl[start : start + 25] + msft[start : start + 25])
        await asyncio.sleep(0.005)

    await eventually(lambda: len(subscriber.trades("AAPL")) == 300)
    await eventually(lambda: len(subscriber.trades("MSFT")) == 300)
    assert subscriber.trades("AAPL") == [(t.price, t.ts_ms) for t in aapl]
    assert subscriber.trades("MSFT") == [(t.price, t.ts_ms) for t in msft]
    in_all = [
        b["symbol"]
        for m in subscriber.messages
        if m["group"] == ALL_TICKS_GROUP
        for b in m["data"]["batches"]
    ]
    assert set(in_all) == {"AAPL", "MSFT"}
    assert relay.publisher.stats.messages_out < 600, "trades were not batched"


async def test_archive_and_quotes_hold_what_was_relayed(finnhub: FinnhubServer, make_relay) -> None:
    relay = await make_relay()
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT"})
    trades = make_trades("AAPL", 50, 200.0)
    await finnhub.send_trades(trades)
    await eventually(lambda: relay.archive.stats.received == 50)
    await eventually(lambda: relay.archive.stats.archived == 50)
    archived = read_ticks(lake(), "AAPL")
    assert archived["price"].to_pylist() == [t.price for t in trades]
    await eventually(lambda: relay.quotes.upserts >= 1)
    quote = document_store().read("quotes", "AAPL", "AAPL")
    assert quote["price"] == trades[-1].price
    assert quote["source"] == "finnhub"


async def test_malformed_unknown_and_error_messages_are_logged_and_skipped(
    finnhub: FinnhubServer, make_relay, subscribe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    relay = await make_relay()
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT"})
    subscriber = await subscribe(["AAPL"])
    await finnhub.broadcast("this is {not json")
    await finnhub.broadcast('{"type":"news","data":[]}')
    await finnhub.broadcast('{"type":"error","msg":"Subscribing to too many symbols"}')
    await finnhub.broadcast('{"type":"trade","data":"oops"}')
    await finnhub.broadcast('{"type":"trade","data":[{"s":"AAPL","p":"x","t":1}]}')
    good = make_trades("AAPL", 5, 150.0)
    await finnhub.send_trades(good)

    await eventually(lambda: len(subscriber.trades("AAPL")) == 5)
    assert subscriber.trades("AAPL") == [(t.price, t.ts_ms) for t in good]
    stats = relay.connections[0].stats
    assert (stats.malformed, stats.unknown, stats.errors) == (2, 1, 1)
    assert stats.reconnects == 0
    text = caplog.text
    assert "malformed frame" in text
    assert "unknown message type 'news'" in text
    assert "Subscribing to too many symbols" in text
    assert "malformed trade entry" in text


async def test_symbols_over_the_cap_are_reported_and_keys_partition_the_rest(
    finnhub: FinnhubServer, make_relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    relay = await make_relay(
        finnhub_api_keys=["key-one", "key-two"],
        relay_symbols_per_connection=2,
        default_symbols=["AAPL", "MSFT", "NVDA", "TSLA", "AMZN"],
    )
    await eventually(lambda: len(finnhub.subscribed()) == 4 and len(finnhub.clients) == 2)
    per_connection = [client.symbols for client in finnhub.clients.values()]
    assert all(len(symbols) == 2 for symbols in per_connection)
    assert not per_connection[0] & per_connection[1]
    assert {client.token for client in finnhub.clients.values()} == {"key-one", "key-two"}
    assert relay.over_cap == ["AMZN"], "DEFAULT_SYMBOLS are served in their configured order"
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{relay.http_port}/readyz")).json()
    assert body["overCap"] == ["AMZN"]
    assert body["watched"]["leftOut"] == ["AMZN"]
    assert body["watched"]["capacity"] == 4
    assert "over the cap" in caplog.text
    assert "AMZN" in caplog.text


async def test_watchlist_symbols_are_picked_up_on_refresh(
    finnhub: FinnhubServer, make_relay
) -> None:
    document_store().upsert(
        "watchlists", {"id": "w1", "pk": "alice", "name": "tech", "symbols": ["nvda", "BTC-USD"]}
    )
    relay = await make_relay(relay_watchlist_refresh_seconds=0.2)
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT", "NVDA", "BINANCE:BTCUSDT"})
    document_store().upsert(
        "watchlists", {"id": "w1", "pk": "alice", "name": "tech", "symbols": ["AMD"]}
    )
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT", "AMD"})
    assert "NVDA" not in relay.symbols
    assert (1, "unsubscribe", "NVDA") in finnhub.subscribe_log


async def test_probes_report_alive_and_ready_then_not_ready_when_upstream_is_down(
    finnhub: FinnhubServer, make_relay
) -> None:
    relay = await make_relay(relay_backoff_initial_seconds=0.5)
    base = f"http://127.0.0.1:{relay.http_port}"
    await eventually(lambda: relay.ready())
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200
        assert (await client.get(f"{base}/readyz")).status_code == 200
        await finnhub.stop()
        await eventually(lambda: not relay.connections[0].connected)
        response = await client.get(f"{base}/readyz")
        assert response.status_code == 503
        assert response.json()["connections"][0]["connected"] is False
        assert (await client.get(f"{base}/healthz")).status_code == 200


async def test_a_failing_archive_keeps_the_feed_live_and_says_so(
    finnhub: FinnhubServer, make_relay, subscribe
) -> None:
    relay = await make_relay()
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT"})
    subscriber = await subscribe(["AAPL"])

    def disk_full(trades: object) -> None:
        raise OSError(28, "No space left on device")

    relay.archive.append = disk_full
    trades = make_trades("AAPL", 20, 150.0)
    await finnhub.send_trades(trades)
    await eventually(lambda: len(subscriber.trades("AAPL")) == 20)
    assert relay.archive_failures == 20
    assert not relay.ready()
    body = relay.health()
    assert body["archive"]["failing"] is True
    assert body["archive"]["notArchived"] == 20
    assert relay.connections[0].stats.reconnects == 0
    assert relay.connections[0].connected


async def test_the_metrics_line_counts_since_the_previous_line(
    finnhub: FinnhubServer, make_relay
) -> None:
    relay = await make_relay()
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT"})
    relay.metrics_line()
    await finnhub.send_trades(make_trades("AAPL", 7, 150.0))
    await eventually(lambda: relay.archive.stats.archived == 7)
    first = dict(part.split("=") for part in relay.metrics_line().split()[2:])
    assert (first["trades_in"], first["spooled"], first["archived"]) == ("7", "7", "7")
    assert first["symbols"] == "2"
    second = dict(part.split("=") for part in relay.metrics_line().split()[2:])
    assert (second["trades_in"], second["spooled"], second["archived"]) == ("0", "0", "0")
