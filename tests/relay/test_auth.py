"""A refused Finnhub key is not an outage (case 4): the relay waits RELAY_AUTH_BACKOFF_SECONDS
before trying the key again (not its reconnect backoff), says so once per wait, and shows it
in /readyz and in provider health. Finnhub's own frames (trades without `c`, integer volumes,
its error texts) are parsed as Finnhub sends them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime

import aiohttp
import pytest

from devhost.webpubsub.finnhub import FinnhubServer
from shared.config import get_settings
from shared.ingest.health import provider_health
from shared.ingest.state import SyncStates
from tests.relay.conftest import eventually

pytestmark = pytest.mark.timeout(60)


async def _readyz(port: int | None) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/readyz") as response,
    ):
        return response.status, await response.json()


async def test_a_refused_key_waits_the_long_interval_and_is_reported_once_per_wait(
    finnhub: FinnhubServer, make_relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="relay.upstream")
    relay = await make_relay(
        finnhub_api_keys=["revoked-key"],
        relay_backoff_initial_seconds=0.01,
        relay_backoff_max_seconds=0.02,
        relay_auth_backoff_seconds=0.5,
    )
    connection = relay.connections[0]
    await eventually(lambda: connection.auth_rejected)
    report = connection.on_auth
    assert report is not None
    reported: list[float] = []

    async def timed(index: int, rejected: bool, why: str) -> None:
        reported.append(time.monotonic())
        await report(index, rejected, why)

    connection.on_auth = timed
    await eventually(lambda: len(reported) >= 2, limit=10)
    # At the reconnect backoff (<= 20 ms) the next attempt would follow at once; a refused
    # key waits RELAY_AUTH_BACKOFF_SECONDS between attempts, and is reported once per wait.
    assert reported[1] - reported[0] >= 0.45
    assert connection.stats.delays == []
    assert finnhub.connections_total == 0
    refusals = [r for r in caplog.records if "refused the API key" in r.getMessage()]
    assert len(refusals) == connection.stats.auth_rejections
    assert "RELAY_AUTH_BACKOFF_SECONDS" in refusals[0].getMessage()
    assert "revoked-key" not in caplog.text

    status, body = await _readyz(relay.http_port)
    assert status == 503
    assert body["upstreamAuthRejected"] is True
    assert body["connections"][0]["authRejected"] is True
    assert body["connections"][0]["nextAttemptAt"] > datetime.now(UTC).timestamp() - 1

    states = await asyncio.to_thread(SyncStates(relay.documents).all, "finnhub")
    health = provider_health(get_settings(), states, datetime.now(UTC))
    finnhub_health = next(p for p in health["providers"] if p["provider"] == "finnhub")
    assert finnhub_health["status"] == "down"
    assert finnhub_health["authRejected"] is True
    assert "HTTP 401" in finnhub_health["authError"]
    assert finnhub_health["symbols"] == []

    # The key is fixed on Finnhub's side: the next attempt connects and health clears.
    assert finnhub.api_keys is not None
    finnhub.api_keys.add("revoked-key")
    await eventually(lambda: connection.connected, limit=5)
    assert not connection.auth_rejected
    states = await asyncio.to_thread(SyncStates(relay.documents).all, "finnhub")
    health = provider_health(get_settings(), states, datetime.now(UTC))
    finnhub_health = next(p for p in health["providers"] if p["provider"] == "finnhub")
    assert finnhub_health["authRejected"] is False


def test_a_deployment_without_finnhub_keys_shows_why_in_provider_health(monkeypatch) -> None:
    monkeypatch.setenv("RELAY_ENABLED", "false")
    get_settings.cache_clear()
    try:
        health = provider_health(get_settings(), [], datetime.now(UTC))
    finally:
        monkeypatch.delenv("RELAY_ENABLED")
        get_settings.cache_clear()
    finnhub_health = next(p for p in health["providers"] if p["provider"] == "finnhub")
    assert finnhub_health["status"] == "disabled"
    assert "no Finnhub key" in finnhub_health["disabledReason"]
    enabled = provider_health(get_settings(), [], datetime.now(UTC))
    assert next(p for p in enabled["providers"] if p["provider"] == "finnhub")["status"] != (
        "disabled"
    )


async def test_finnhub_frames_as_finnhub_sends_them(
    finnhub: FinnhubServer, make_relay, subscribe
) -> None:
    """Trades without `c`, with `c: null` or string condition codes, integer volumes and
    an integer price; an error text that is not about the key keeps the connection."""
    relay = await make_relay(default_symbols=["AAPL", "BTC-USD"])
    await eventually(lambda: finnhub.subscribed() == {"AAPL", "BINANCE:BTCUSDT"})
    subscriber = await subscribe(["AAPL", "BTC-USD"])
    now = int(datetime.now(UTC).timestamp() * 1000)
    frame = {
        "type": "trade",
        "data": [
            {"s": "AAPL", "p": 214.5, "t": now, "v": 100},
            {"s": "AAPL", "p": 214, "t": now + 1, "v": 3, "c": ["1", "12"]},
            {"s": "BINANCE:BTCUSDT", "p": 97000.12345678, "t": now + 2, "v": 0.00012, "c": None},
        ],
    }
    await finnhub.broadcast(json.dumps(frame))
    await eventually(lambda: len(subscriber.trades("AAPL")) == 2)
    await eventually(lambda: len(subscriber.trades("BTC-USD")) == 1)
    assert subscriber.trades("AAPL") == [(214.5, now), (214, now + 1)]
    assert subscriber.trades("BTC-USD") == [(97000.12345678, now + 2)]

    await finnhub.broadcast('{"type":"error","msg":"Subscribing to too many symbols"}')
    connection = relay.connections[0]
    await eventually(lambda: connection.stats.errors == 1)
    assert connection.connected
    assert not connection.auth_rejected
    assert "too many symbols" in connection.stats.last_error


def test_the_relay_streams_equities_and_crypto_not_fx_pairs_or_indices() -> None:
    from containerapps.relay.service import NOT_STREAMED
    from shared.watchlists import select_symbols

    demand = {"alice": ["AAPL", "EUR-USD", "APS.AX", "^GSPC"], "bob": ["BTC-USD"]}
    selection = select_symbols(demand, ["ETH-USD", "GBP-USD", "SPX"], 10, skip_kinds=NOT_STREAMED)
    assert selection.selected == ["ETH-USD", "AAPL", "BTC-USD", "APS.AX"]
    assert selection.left_out == []


async def test_an_index_in_a_watchlist_does_not_stop_the_relay(
    finnhub: FinnhubServer, make_relay
) -> None:
    """^GSPC has no Finnhub stream id (to_finnhub refuses it): it is left out, the rest is
    subscribed."""
    relay = await make_relay(default_symbols=["AAPL", "^GSPC", "EUR-USD"])
    await eventually(lambda: finnhub.subscribed() == {"AAPL"})
    assert relay.symbols == {"AAPL"}
