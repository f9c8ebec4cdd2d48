"""Paper trading offline, end to end through `python -m devhost`: the replayed feed's quotes
(source `replay`) fill a paper order that waited open, and the fill is in the audit log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from testsupport.auth import auth_headers
from testsupport.host import start_host

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen in {timeout:g} s")


def test_an_open_order_fills_on_replayed_quotes_with_the_fill_audited(tmp_path: Path) -> None:
    env = {
        "LOCAL_DATA_DIR": str(tmp_path / "data"),
        "DEFAULT_SYMBOLS": "MSFT",
        "RELAY_REPLAY_RATE": "10",
        "RELAY_QUOTE_SECONDS": "1",
        "RELAY_WATCHLIST_REFRESH_SECONDS": "1",
    }
    trader = auth_headers("trader", "newcomer")
    admin = auth_headers("admin", "root")
    with (
        start_host(env) as host,
        httpx.Client(base_url=f"{host.base_url}/api", timeout=60, headers=trader) as api,
    ):
        account = api.post("/paper/accounts", json={"name": "main", "startingCash": 10000})
        assert account.status_code == 201, account.text
        account_id = account.json()["id"]
        # AAPL is not relayed yet: no quote, so a market order is refused and a limit waits
        market = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}
        refused = api.post(f"/paper/accounts/{account_id}/orders", json=market)
        assert refused.status_code == 422, refused.text
        limit = {**market, "type": "limit", "limitPrice": 5000, "timeInForce": "gtc"}
        placed = api.post(f"/paper/accounts/{account_id}/orders", json=limit)
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "open"

        watchlist = {"name": "mine", "symbols": ["AAPL"]}
        assert api.post("/watchlists", json=watchlist).status_code == 201
        quote = _until(
            lambda: next(
                iter(api.get("/quotes", params={"symbols": "AAPL"}).json()["quotes"]), None
            ),
            90,
            "a replayed AAPL quote",
        )
        assert quote["source"] == "replay"
        filled = _until(
            lambda: (
                body
                if (body := api.get(f"/paper/accounts/{account_id}/orders/{order['id']}").json())[
                    "status"
                ]
                == "filled"
                else None
            ),
            30,
            "the fill",
        )
        assert filled["filledQty"] == 1
        assert 0 < filled["fillPrice"] <= 5000

        audit = api.get("/audit", params={"kind": "order"}, headers=admin).json()["items"]
        mine = [r for r in audit if r["target"].endswith(order["id"])]
        assert [r["action"] for r in sorted(mine, key=lambda r: r["at"])] == [
            "order.placed",
            "order.filled",
        ]
        fill = next(r for r in mine if r["action"] == "order.filled")
        assert fill["detail"]["fillPrice"] == filled["fillPrice"]
        assert fill["actor"] == "system"


def test_a_replayed_trade_makes_a_quote_labelled_replay() -> None:
    from containerapps.relay.quotes import trade_quote
    from shared.feed.trades import Trade

    replayed = Trade("AAPL", 1402.5, 3.0, 1_764_000_000_000, ("replay", "sp500:2012-03-01"))
    live = Trade("AAPL", 191.0, 3.0, 1_764_000_000_000, ("1",))
    assert trade_quote(replayed, None).source == "replay"
    assert trade_quote(live, None).source == "finnhub"
