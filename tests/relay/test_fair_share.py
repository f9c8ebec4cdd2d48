"""The relay's capacity is shared fairly: one account's flood of watchlists cannot push
another account's symbols off the feed, and what is left out shows in /readyz."""

from __future__ import annotations

import httpx
import pytest

from devhost.webpubsub.finnhub import FinnhubServer
from shared.storage.factory import document_store
from tests.relay.conftest import eventually, make_trades

pytestmark = pytest.mark.timeout(60)


def _flood() -> list[str]:
    """Mallory: five lists of 20 symbols that sort before NFLX/TSLA; Bob: NFLX and TSLA."""
    store = document_store()
    junk: list[str] = []
    for n in range(5):
        symbols = [f"A{chr(65 + n)}{chr(65 + i)}" for i in range(20)]
        junk += symbols
        store.upsert(
            "watchlists",
            {
                "id": f"m{n}",
                "pk": "mallory",
                "name": f"junk {n}",
                "symbols": symbols,
                "createdAt": f"2026-01-01T00:00:0{n}+00:00",
            },
        )
    store.upsert(
        "watchlists",
        {
            "id": "b1",
            "pk": "bob",
            "name": "mine",
            "symbols": ["NFLX", "TSLA"],
            "createdAt": "2026-02-01T00:00:00+00:00",
        },
    )
    return junk


async def test_a_flood_of_junk_cannot_push_another_account_off_the_feed(
    finnhub: FinnhubServer, make_relay, subscribe
) -> None:
    junk = _flood()
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
