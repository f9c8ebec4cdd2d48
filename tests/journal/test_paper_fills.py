"""Paper fills become journal executions automatically, exactly once."""

from __future__ import annotations

import pytest

from shared.config import get_settings
from shared.journal.paper import record_paper_fill
from shared.journal.service import journal_of
from shared.paper.broker import CONTAINER, PaperBroker
from shared.storage.factory import document_store
from testsupport.routes import put_quote

ORDERS = "paper/accounts/{accountId}/orders"


async def test_fills_are_recorded_once_however_often_they_are_replayed(call):
    store = document_store()
    put_quote(store, "MSFT", 200.0)
    opened = await call("POST", "paper/accounts", body={"name": "t", "startingCash": 10_000})
    account_id = opened.json["id"]
    params = {"accountId": account_id}
    buy = await call(
        "POST", ORDERS, params=params, body={"symbol": "MSFT", "side": "buy", "qty": 5}
    )
    assert buy.json["status"] == "filled"
    put_quote(store, "MSFT", 210.0)
    sell = await call(
        "POST", ORDERS, params=params, body={"symbol": "MSFT", "side": "sell", "qty": 5}
    )
    assert sell.json["status"] == "filled"
    limit = {"symbol": "MSFT", "side": "buy", "qty": 1, "type": "limit", "limitPrice": 1}
    assert (await call("POST", ORDERS, params=params, body=limit)).json["status"] == "open"

    journal = journal_of("alice")
    executions = journal.all_executions()
    assert sorted((e.side, e.quantity, e.source) for e in executions) == [
        ("buy", 5, "paper"),
        ("sell", 5, "paper"),
    ]
    assert {e.external_id for e in executions} == {buy.json["id"], sell.json["id"]}
    [trade] = journal.trades()
    expected = (sell.json["fillPrice"] - buy.json["fillPrice"]) * 5
    assert trade.net_pnl == pytest.approx(expected)
    assert trade.broker_account == f"paper-{account_id}"

    # A replayed settlement, a catch-up pass: nothing new.
    order = store.read(CONTAINER, buy.json["id"], "alice")
    record_paper_fill(store, order)
    assert PaperBroker(store, get_settings()).record_fills("alice") == 0
    assert len(journal.all_executions()) == 2
    stats = await call("GET", "journal/stats", role="viewer")
    assert stats.json["netPnl"] == pytest.approx(expected)


async def test_catch_up_records_fills_the_hook_missed(call, monkeypatch):
    store = document_store()
    put_quote(store, "AAPL", 100.0)
    monkeypatch.setattr("shared.journal.paper.Journal.add", _boom)
    opened = await call("POST", "paper/accounts", body={"name": "t", "startingCash": 10_000})
    params = {"accountId": opened.json["id"]}
    placed = await call(
        "POST", ORDERS, params=params, body={"symbol": "AAPL", "side": "buy", "qty": 2}
    )
    assert placed.status == 201  # the journal failing never fails the fill
    assert placed.json["status"] == "filled"
    monkeypatch.undo()
    assert journal_of("alice").all_executions() == []
    broker = PaperBroker(store, get_settings())
    assert broker.record_fills("alice") == 1
    assert broker.record_fills("alice") == 0


def _boom(*args, **kwargs):
    raise RuntimeError("journal down")
