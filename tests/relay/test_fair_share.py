"""The relay's capacity is shared fairly: one account's flood of watchlists cannot push
another account's symbols off the feed, and what is left out shows in /readyz."""

from __future__ import annotations

import httpx
import pytest

from devhost.webpubsub.finnhub import FinnhubServer
from shared.storage.factory import document_store
from tests.relay.conftest import eventually, make_trades
from testsupport.watchlists import flood

pytestmark = pytest.mark.timeout(60)


async def test_a_flood_of_junk_cannot_push_another_account_off_the_feed(
    finnhub: FinnhubServer, make_relay, subscribe
) -> None:
    junk = flood(document_store(), 20)
    relay = await make_relay(
        finnhub_api_keys=["key-one", "key-two"], relay_symbols_per_connection=5
    )
    await eventually(lambda: len(finnhub.subscribed()) == 10)
    subscribed = finnhub.subscribed()
    assert {"AAPL", "MSFT", "NFLX", "TSLA"} <= subscribed
    assert len(subscribed - {"AAPL", "MSFT", "NFLX", "TSLA"}) == 6

    subscriber = await subscribe(["NFLX", "TSLA"])
    nflx, tsla = make_trades("NFLX", 20, 90.0), make_trades("TSLA", 20, 250.0)
    await finnhub.send_trades(nflx + tsla)
    await eventually(lambda: len(subscriber.trades("NFLX")) == 20)
    await eventually(lambda: len(subscriber.trades("TSLA")) == 20)

    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{relay.http_port}/readyz")).json()
    watched = body["watched"]
    assert (watched["capacity"], watched["selected"], watched["leftOutCount"]) == (10, 10, 94)
    assert watched["accountsWatching"] == 2
    assert set(body["overCap"]) <= set(junk)
    assert len(body["overCap"]) == 50
    assert body["ready"] is True
