"""Reconnects: a dropped socket or a silent server makes the relay reconnect with capped,
fully jittered backoff and resubscribe every symbol."""

from __future__ import annotations

import random

import pytest

from containerapps.relay.upstream import FinnhubConnection, SymbolAllocator, full_jitter_delay
from devhost.webpubsub.finnhub import FinnhubServer
from tests.relay.conftest import eventually, make_trades

pytestmark = pytest.mark.timeout(60)

SYMBOLS = {"AAPL", "MSFT", "NVDA", "BINANCE:BTCUSDT"}


def resubscribed(server: FinnhubServer, connection_number: int) -> set[str]:
    log = server.subscribe_log
    return {s for n, kind, s in log if n == connection_number and kind == "subscribe"}


async def test_dropped_connection_reconnects_and_resubscribes_everything(
    finnhub: FinnhubServer, make_relay, subscribe
) -> None:
    relay = await make_relay(default_symbols=["AAPL", "MSFT", "NVDA", "BTC-USD"])
    await eventually(lambda: finnhub.subscribed() == SYMBOLS)
    subscriber = await subscribe(["BTC-USD"])
    await finnhub.drop_all()
    await eventually(lambda: finnhub.connections_total == 2 and finnhub.subscribed() == SYMBOLS)
    assert resubscribed(finnhub, 2) == SYMBOLS
    assert relay.connections[0].stats.reconnects == 1
    trades = make_trades("BINANCE:BTCUSDT", 3, 97000.0)
    await finnhub.send_trades(trades)
    await eventually(lambda: len(subscriber.trades("BTC-USD")) == 3)


async def test_silent_server_trips_the_heartbeat_watchdog(
    finnhub: FinnhubServer, make_relay
) -> None:
    relay = await make_relay(relay_heartbeat_seconds=0.4)
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "MSFT"})
    finnhub.stalled = True
    await eventually(lambda: finnhub.connections_total >= 2, limit=5)
    await eventually(lambda: resubscribed(finnhub, 2) == {"AAPL", "MSFT"})
    assert "nothing received" in relay.connections[0].stats.last_error


async def test_unreachable_upstream_backs_off_with_growing_capped_delays() -> None:
    """An outage (nothing listening) retries on the capped, fully jittered curve. A refused
    key is not an outage: see test_auth.py."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = FinnhubConnection(
        0,
        f"ws://127.0.0.1:{port}",
        "key",
        lambda trades: None,
        backoff_initial=0.01,
        backoff_max=0.08,
        connect_timeout=1.0,
    )
    connection.symbols = {"AAPL"}
    connection.start()
    try:
        await eventually(lambda: len(connection.stats.delays) >= 12)
    finally:
        await connection.stop()
    assert not connection.auth_rejected
    delays = connection.stats.delays
    assert all(0.0 <= d <= 0.08 for d in delays)
    assert max(delays[:2]) <= 0.02
    assert max(delays[4:]) > 0.02


def test_full_jitter_is_uniform_below_the_capped_exponential() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (10, 30.0), (500, 30.0)]:
        samples = [full_jitter_delay(attempt, 1.0, 30.0, rng) for _ in range(2000)]
        assert min(samples) >= 0.0
        assert max(samples) <= ceiling
        assert max(samples) > 0.9 * ceiling
        assert min(samples) < 0.1 * ceiling


def test_allocator_keeps_symbols_in_place_and_fills_the_emptiest_connection() -> None:
    allocator = SymbolAllocator(connections=2, cap=2)
    first = allocator.allocate({"A", "B", "C"})
    assert sorted([s for c in first.per_connection for s in c]) == ["A", "B", "C"]
    assert not first.over_cap
    second = allocator.allocate({"A", "B", "C", "D", "E"})
    for before, after in zip(first.per_connection, second.per_connection, strict=True):
        assert set(before) <= set(after)
    assert second.over_cap == ["E"]
    third = allocator.allocate({"E", "A"})
    assert sorted([s for c in third.per_connection for s in c]) == ["A", "E"]
    assert not third.over_cap


async def test_symbols_dropped_keep_their_names_for_trades_already_on_the_way() -> None:
    connection = FinnhubConnection(0, "ws://127.0.0.1:9", "k", lambda trades: None)
    await connection.set_symbols(["BTC-USD", "AAPL"])
    await connection.set_symbols(["AAPL"])
    assert connection.symbols == {"AAPL"}
    assert connection._rename["BINANCE:BTCUSDT"] == "BTC-USD"
