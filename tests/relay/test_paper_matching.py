"""A relayed trade fills a resting paper order through the path Azure runs: the relay writes
the quote, the change feed of `quotes` triggers `paper_matching_quotes`, matching fills.

The app is function_app.py served by the local host with only its change-feed plugin (no
timers, so the 15-second matching timer cannot be what fills the order)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime

import httpx
import pytest

from devhost.changefeed import ChangeFeedPlugin
from devhost.webpubsub.finnhub import FinnhubServer
from shared.config import Settings
from shared.storage.factory import document_store
from tests.relay.conftest import eventually
from testsupport.auth import auth_headers
from testsupport.host import in_process_host
from testsupport.routes import put_quote

pytestmark = pytest.mark.timeout(90)

SCHEDULES = {
    name.upper(): str(field.default)
    for name, field in Settings.model_fields.items()
    if name.startswith("schedule_")
}


async def test_a_relayed_trade_fills_a_resting_limit_order(
    finnhub: FinnhubServer, make_relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost.invocation")
    put_quote(document_store(), "AAPL", 100.0)
    async with (
        in_process_host(
            "function_app:app", plugins=[ChangeFeedPlugin()], settings=SCHEDULES
        ) as host,
        httpx.AsyncClient(base_url=f"{host.base_url}/api", headers=auth_headers()) as api,
    ):
        account = (await api.post("/paper/accounts", json={"startingCash": 1000})).json()
        orders = f"/paper/accounts/{account['id']}/orders"
        placed = await api.post(
            orders,
            json={"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 2, "limitPrice": 90},
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "open"

        await make_relay(default_symbols=["AAPL"])
        await eventually(lambda: "AAPL" in finnhub.subscribed())
        now_ms = int(time.time() * 1000)
        trade = {"type": "trade", "data": [{"s": "AAPL", "p": 89.0, "t": now_ms, "v": 5}]}
        await finnhub.broadcast(json.dumps(trade))

        deadline = time.monotonic() + 20
        while True:
            current = (await api.get(f"{orders}/{order['id']}")).json()
            if current["status"] != "open" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        # the order is written before the invocation ends: let it end before the host stops
        await eventually(lambda: any("outcome=ok" in line for line in _matched(caplog)), 10)
    assert (current["status"], current["fillPrice"], current["filledQty"]) == (
        "filled",
        89.0,
        2,
    )
    stored = document_store().read("quotes", "AAPL", "AAPL")
    assert (stored["price"], stored["source"]) == (89.0, "finnhub")
    assert datetime.fromisoformat(stored["ts"]) == datetime.fromtimestamp(now_ms / 1000, UTC)
    matched = _matched(caplog)
    assert "outcome=ok" in matched[0], matched
    assert not [r for r in caplog.records if "function=paper_matching_timer" in r.getMessage()]


def _matched(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The local host's invocation lines of the change-feed trigger."""
    lines = [r.getMessage() for r in caplog.records]
    return [line for line in lines if "function=paper_matching_quotes" in line]
