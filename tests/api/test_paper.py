"""Paper trading through the routes: fills, cash checks, cancel, idempotency, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth.caller import Caller
from shared.config import get_settings
from shared.errors import Conflict
from shared.paper import IdempotencyStore, OrderIn, PaperBroker
from shared.paper.matching import fill_price
from testsupport.paper import racing_buys
from testsupport.routes import assert_problem, put_quote

ORDERS = "paper/accounts/{accountId}/orders"


async def open_account(call, cash: float = 10_000.0, account: str = "alice") -> str:
    reply = await call(
        "POST", "paper/accounts", body={"name": "t", "startingCash": cash}, account=account
    )
    assert reply.status == 201, reply.body
    return reply.json["id"]


async def place(call, account_id: str, account: str = "alice", headers=None, **order):
    return await call(
        "POST",
        ORDERS,
        params={"accountId": account_id},
        body=order,
        account=account,
        headers=headers,
    )


@pytest.fixture
async def account_id(call, store) -> str:
    """AAPL quoted at 100 and a new paper account of alice's with 10,000 cash: its id."""
    put_quote(store, "AAPL", 100.0)
    return await open_account(call, 10_000)


async def account_view(call, account_id: str, account: str = "alice") -> dict:
    reply = await call(
        "GET", "paper/accounts/{accountId}", params={"accountId": account_id}, account=account
    )
    assert reply.status == 200
    return reply.json


async def match(call) -> dict:
    reply = await call("POST", "paper/match", role="admin", account="root")
    assert reply.status == 200
    return reply.json


async def test_limit_buy_fills_when_the_quote_crosses_and_not_before(call, store):
    put_quote(store, "AAPL", 100.0)
    account_id = await open_account(call)
    reply = await place(
        call,
        account_id,
        symbol="aapl",
        side="buy",
        type="limit",
        qty=10,
        limitPrice=95.0,
        timeInForce="gtc",
    )
    assert reply.status == 201
    order = reply.json
    assert (order["status"], order["symbol"]) == ("open", "AAPL")
    view = await account_view(call, account_id)
    assert view["reservedCash"] == 950.0
    assert view["availableCash"] == 9050.0

    put_quote(store, "AAPL", 95.01)
    assert (await match(call))["filled"] == 0
    still = await call(
        "GET", ORDERS + "/{orderId}", params={"accountId": account_id, "orderId": order["id"]}
    )
    assert still.json["status"] == "open"

    put_quote(store, "AAPL", 94.5)
    report = await match(call)
    assert report["filled"] == 1
    done = await call(
        "GET", ORDERS + "/{orderId}", params={"accountId": account_id, "orderId": order["id"]}
    )
    assert done.json["status"] == "filled"
    assert done.json["fillPrice"] == 94.5
    assert done.json["filledQty"] == 10
    assert done.json["filledAt"].endswith("Z")
    view = await account_view(call, account_id)
    assert view["cash"] == pytest.approx(10_000 - 945.0)
    assert view["reservedCash"] == 0
    assert view["positions"][0]["qty"] == 10
    assert view["positions"][0]["avgPrice"] == 94.5


async def test_market_orders_fill_with_slippage_and_track_pnl(call, store):
    put_quote(store, "MSFT", 200.0)
    account_id = await open_account(call, 10_000)
    bps = get_settings().paper_slippage_bps
    buy = await place(call, account_id, symbol="MSFT", side="buy", qty=10)
    assert buy.status == 201
    assert buy.json["status"] == "filled"
    assert buy.json["fillPrice"] == pytest.approx(200 * (1 + bps / 10_000))
    put_quote(store, "MSFT", 220.0)
    view = await account_view(call, account_id)
    assert view["unrealizedPnl"] == pytest.approx(10 * (220 - 200 * (1 + bps / 10_000)))
    sell = await place(call, account_id, symbol="MSFT", side="sell", qty=4)
    assert sell.json["status"] == "filled"
    view = await account_view(call, account_id)
    sell_price = 220 * (1 - bps / 10_000)
    assert view["realizedPnl"] == pytest.approx(4 * (sell_price - 200 * (1 + bps / 10_000)))
    assert view["positions"][0]["qty"] == 6
    assert view["equity"] == pytest.approx(view["cash"] + 6 * 220)


async def test_an_order_larger_than_cash_is_refused_and_holds_nothing(call, store):
    put_quote(store, "SPY", 500.0)
    account_id = await open_account(call, 1_000)
    reply = await place(call, account_id, symbol="SPY", side="buy", qty=3)
    assert reply.status == 422
    assert reply.mimetype == "application/problem+json"
    assert "cash" in reply.json["detail"]
    limit = await place(
        call, account_id, symbol="SPY", side="buy", type="limit", qty=3, limitPrice=400
    )
    assert_problem(limit, 422, "Insufficient funds", "needs 1200.00 but only 1000.00 cash")
    view = await account_view(call, account_id)
    assert (view["cash"], view["reservedCash"]) == (1_000, 0)
    orders = await call("GET", ORDERS, params={"accountId": account_id})
    assert orders.json["items"] == []


async def test_selling_more_than_held_is_refused(call, store):
    put_quote(store, "AAPL", 10.0)
    account_id = await open_account(call, 1_000)
    refused = await place(call, account_id, symbol="AAPL", side="sell", qty=1)
    assert_problem(refused, 422, "Insufficient funds", "sells 1 AAPL but only 0 are free")


async def test_cancel_releases_the_reservation_and_a_second_cancel_conflicts(call, store):
    put_quote(store, "AAPL", 100.0)
    account_id = await open_account(call, 1_000)
    order = (
        await place(call, account_id, symbol="AAPL", side="buy", type="limit", qty=9, limitPrice=90)
    ).json
    assert (await account_view(call, account_id))["availableCash"] == 190
    params = {"accountId": account_id, "orderId": order["id"]}
    cancelled = await call("POST", ORDERS + "/{orderId}/cancel", params=params)
    assert cancelled.status == 200
    assert cancelled.json["status"] == "cancelled"
    assert (await account_view(call, account_id))["availableCash"] == 1_000
    again = await call("POST", ORDERS + "/{orderId}/cancel", params=params)
    assert_problem(again, 409, "Conflict", "is already cancelled")
    put_quote(store, "AAPL", 80.0)
    await match(call)
    final = await call("GET", ORDERS + "/{orderId}", params=params)
    assert final.json["status"] == "cancelled"


async def test_retried_idempotency_key_creates_one_order(call, account_id):
    headers = {"Idempotency-Key": "order-123"}
    first = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    second = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    assert first.status == second.status == 201
    assert first.json["id"] == second.json["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert first.headers["Location"].endswith(f"/orders/{first.json['id']}")
    orders = await call("GET", ORDERS, params={"accountId": account_id})
    assert len(orders.json["items"]) == 1
    other = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=2)
    assert other.status == 422
    assert "Idempotency-Key" in other.json["detail"]
    view = await account_view(call, account_id)
    assert view["positions"][0]["qty"] == 1


async def test_concurrent_retries_of_one_key_place_one_order(call, account_id):
    headers = {"Idempotency-Key": "burst"}
    replies = await asyncio.gather(
        *[
            place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
            for _ in range(8)
        ]
    )
    assert {r.status for r in replies} <= {201, 409}
    assert len({r.json["id"] for r in replies if r.status == 201}) == 1
    orders = await call("GET", ORDERS, params={"accountId": account_id})
    assert len(orders.json["items"]) == 1


async def test_idempotent_refusal_is_replayed_too(call, store):
    put_quote(store, "AAPL", 100.0)
    account_id = await open_account(call, 50)
    headers = {"Idempotency-Key": "too-big"}
    first = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    put_quote(store, "AAPL", 10.0)
    second = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    assert first.status == second.status == 422
    assert second.mimetype == "application/problem+json"


async def test_stop_orders_trigger_when_the_price_reaches_the_stop(call, store):
    put_quote(store, "BTC-USD", 30_000.0)
    account_id = await open_account(call, 100_000)
    buy = await place(call, account_id, symbol="BTC-USD", side="buy", qty=1)
    assert buy.json["status"] == "filled"
    stop = (
        await place(
            call,
            account_id,
            symbol="BTC-USD",
            side="sell",
            type="stop",
            qty=1,
            stopPrice=29_000,
            timeInForce="gtc",
        )
    ).json
    assert stop["status"] == "open"
    put_quote(store, "BTC-USD", 29_500.0)
    await match(call)
    put_quote(store, "BTC-USD", 28_900.0)
    assert (await match(call))["filled"] == 1
    view = await account_view(call, account_id)
    assert view["positions"] == []
    assert view["realizedPnl"] < 0


async def test_order_validation(call, store):
    blank = await call("POST", "paper/accounts", body={"name": "  ", "startingCash": 10})
    assert_problem(blank, 422, "Invalid input", "name: String should have at least 1")
    account_id = await open_account(call)
    no_quote = await place(call, account_id, symbol="AAPL", side="buy", qty=1)
    assert_problem(no_quote, 422, "No fresh quote", "no quote for AAPL yet")
    no_limit = await place(call, account_id, symbol="AAPL", side="buy", type="limit", qty=1)
    assert_problem(no_limit, 422, "Invalid input", "a limit order needs limitPrice")
    bad_symbol = await place(call, account_id, symbol="not a symbol!", side="buy", qty=1)
    assert_problem(bad_symbol, 422, "Invalid input", "unknown symbol 'not a symbol!'")
    zero = await place(call, account_id, symbol="AAPL", side="buy", qty=0)
    assert_problem(zero, 422, "Invalid input", "qty: Input should be greater than or equal to")
    put_quote(store, "AAPL", 100.0)
    dust = await place(call, account_id, symbol="AAPL", side="buy", qty=1e-9)
    assert_problem(dust, 422, "Invalid input", "qty: Input should be greater than or equal to")
    assert (await account_view(call, account_id))["positions"] == []
    smallest = await place(call, account_id, symbol="AAPL", side="buy", qty=1e-6)
    assert smallest.status == 201
    assert smallest.json["filledQty"] == 1e-6


async def test_stale_quotes_neither_fill_nor_trigger_orders(call, store):
    account_id = await open_account(call)
    old = datetime.now(UTC) - timedelta(hours=2)
    put_quote(store, "AAPL", 100.0, ts=old)
    market = await place(call, account_id, symbol="AAPL", side="buy", qty=1)
    assert market.status == 422, market.body
    assert market.mimetype == "application/problem+json"
    assert market.json["title"] == "No fresh quote"
    assert "newer than 900 s" in market.json["detail"]
    assert old.isoformat() in market.json["detail"]
    view = await account_view(call, account_id)
    assert (view["cash"], view["reservedCash"], view["positions"]) == (10_000.0, 0.0, [])

    limit = await place(
        call, account_id, symbol="AAPL", side="buy", type="limit", qty=1, limitPrice=150
    )
    assert limit.status == 201
    assert limit.json["status"] == "open"
    stop = await place(
        call, account_id, symbol="AAPL", side="buy", type="stop", qty=1, stopPrice=90
    )
    assert stop.status == 201
    assert stop.json["status"] == "open"
    assert (await match(call))["filled"] == 0

    put_quote(store, "AAPL", 100.0)
    assert (await match(call))["filled"] == 2
    filled = await place(call, account_id, symbol="AAPL", side="buy", qty=1)
    assert filled.status == 201
    assert filled.json["status"] == "filled"


def test_a_quote_is_fresh_up_to_paper_max_quote_age_seconds(store):
    now = datetime(2026, 11, 23, 15, tzinfo=UTC)
    settings = get_settings().model_copy(update={"paper_max_quote_age_seconds": 60.0})
    broker = PaperBroker(store, settings, clock=lambda: now)
    put_quote(store, "AAPL", 100.0, ts=now - timedelta(seconds=60))
    assert broker.fresh_price("AAPL") == 100.0
    put_quote(store, "AAPL", 100.0, ts=now - timedelta(seconds=61))
    assert broker.fresh_price("AAPL") is None
    assert broker.last_price("AAPL") == 100.0
    assert broker.fresh_price("MSFT") is None


def test_day_orders_expire_after_their_date(store):
    put_quote(store, "AAPL", 100.0)
    settings = get_settings()
    now = datetime(2026, 11, 23, 15, tzinfo=UTC)
    broker = PaperBroker(store, settings, clock=lambda: now)
    alice = Caller("alice", frozenset({"trader"}))
    from shared.paper import PaperAccountIn

    account = broker.create_account(alice, PaperAccountIn(starting_cash=1_000))
    day = broker.place_order(
        alice, account.id, OrderIn(symbol="AAPL", side="buy", type="limit", qty=1, limit_price=50)
    )
    gtc = broker.place_order(
        alice,
        account.id,
        OrderIn(
            symbol="AAPL", side="buy", type="limit", qty=1, limit_price=50, time_in_force="gtc"
        ),
    )
    assert broker.match().expired == 0
    broker.clock = lambda: now + timedelta(days=1)
    report = broker.match()
    assert report.expired == 1
    assert broker.get_order(alice, account.id, day.id).status == "expired"
    assert broker.get_order(alice, account.id, gtc.id).status == "open"
    assert broker.get_account(alice, account.id).reserved_cash == 50


def test_a_stop_that_gaps_past_free_cash_fills_only_what_cash_covers(store):
    put_quote(store, "AAPL", 100.0)
    settings = get_settings()
    broker = PaperBroker(store, settings.model_copy(update={"paper_slippage_bps": 0.0}))
    alice = Caller("alice", frozenset({"trader"}))
    from shared.paper import PaperAccountIn

    account = broker.create_account(alice, PaperAccountIn(starting_cash=1_100))
    order = broker.place_order(
        alice, account.id, OrderIn(symbol="AAPL", side="buy", type="stop", qty=10, stop_price=110)
    )
    assert broker.get_account(alice, account.id).reserved_cash == 1_100
    put_quote(store, "AAPL", 200.0)
    broker.match()
    settled = broker.get_order(alice, account.id, order.id)
    assert settled.status == "partially_filled"
    assert settled.filled_qty == 5.5
    view = broker.get_account(alice, account.id)
    assert view.cash == 0
    assert view.reserved_cash == 0


def test_threads_racing_on_one_account_never_overdraw(store):
    outcomes, view = racing_buys(store, starting_cash=1_000, buyers=20)
    assert sorted(outcomes) == ["InsufficientFunds"] * 10 + ["filled"] * 10
    assert (view.cash, view.reserved_cash, view.positions[0].qty) == (0, 0, 10)


@pytest.mark.parametrize(
    ("order_type", "side", "price", "limit", "stop", "expected"),
    [
        ("limit", "buy", 100.0, 99.0, None, None),
        ("limit", "buy", 99.0, 99.0, None, 99.0),
        ("limit", "sell", 100.0, 101.0, None, None),
        ("limit", "sell", 102.0, 101.0, None, 102.0),
        ("stop", "buy", 100.0, None, 101.0, None),
        ("stop", "buy", 101.0, None, 101.0, 101.0),
        ("stop", "sell", 99.0, None, 98.0, None),
        ("stop", "sell", 97.0, None, 98.0, 97.0),
        ("market", "buy", 50.0, None, None, 50.0),
    ],
)
def test_fill_price_rules(order_type, side, price, limit, stop, expected):
    assert fill_price(order_type, side, price, limit_price=limit, stop_price=stop) == expected


async def test_writing_a_quote_matches_open_orders_without_waiting_for_the_timer(call, store):
    import functions.paper  # noqa: F401  (subscribes matching to quote writes)
    from shared.ingest.state import QuoteBook
    from shared.market.models import Quote

    book = QuoteBook(store)
    book.upsert(Quote(symbol="AAPL", price=100.0, ts=datetime.now(UTC), source="test"))
    account_id = await open_account(call)
    order = (
        await place(
            call,
            account_id,
            symbol="AAPL",
            side="buy",
            type="limit",
            qty=2,
            limitPrice=90,
            timeInForce="gtc",
        )
    ).json
    params = {"accountId": account_id, "orderId": order["id"]}
    book.upsert(
        Quote(symbol="AAPL", price=91.0, ts=datetime.now(UTC) + timedelta(seconds=1), source="test")
    )
    assert (await call("GET", ORDERS + "/{orderId}", params=params)).json["status"] == "open"
    book.upsert(
        Quote(symbol="AAPL", price=89.0, ts=datetime.now(UTC) + timedelta(seconds=2), source="test")
    )
    filled = (await call("GET", ORDERS + "/{orderId}", params=params)).json
    assert (filled["status"], filled["fillPrice"]) == ("filled", 89.0)


def test_a_reservation_whose_order_was_never_written_is_released_later(store):
    put_quote(store, "AAPL", 100.0)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    broker = PaperBroker(store, get_settings(), clock=lambda: now)
    alice = Caller("alice", frozenset({"trader"}))
    from shared.paper import PaperAccountIn

    account = broker.create_account(alice, PaperAccountIn(starting_cash=1_000))
    order = broker.place_order(
        alice, account.id, OrderIn(symbol="AAPL", side="buy", type="limit", qty=5, limit_price=90)
    )
    kept = broker.place_order(
        alice, account.id, OrderIn(symbol="AAPL", side="buy", type="limit", qty=1, limit_price=90)
    )
    store.delete("paper", order.id, "alice")
    assert broker.release_orphans() == 0, "too young: the order may still be being written"
    broker.clock = lambda: now + timedelta(minutes=11)
    assert broker.release_orphans() == 1
    view = broker.get_account(alice, account.id)
    assert view.reserved_cash == 90
    assert broker.get_order(alice, account.id, kept.id).status == "open"
    assert broker.release_orphans() == 0


def fail_fills(monkeypatch, error: Exception) -> None:
    """Make every fill attempt raise `error` (until `monkeypatch.undo()`)."""

    def failing(self, order, price, **_):
        raise error

    monkeypatch.setattr(PaperBroker, "_try_fill", failing)


def fail_first_order(monkeypatch, error: Exception) -> None:
    """Make the broker's first `place_order` raise `error`; later calls go through."""
    original = PaperBroker.place_order
    calls = []

    def fail_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PaperBroker, "place_order", fail_once)


async def test_a_busy_account_409_is_not_replayed_to_the_retry(call, monkeypatch, account_id):
    fail_first_order(monkeypatch, Conflict("paper account is busy; retry"))
    headers = {"Idempotency-Key": "busy"}
    first = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    second = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    assert (first.status, second.status) == (409, 201)
    assert "Idempotent-Replayed" not in second.headers
    orders = await call("GET", ORDERS, params={"accountId": account_id})
    assert len(orders.json["items"]) == 1


async def test_a_fill_that_loses_every_race_leaves_the_order_placed_and_open(
    call, monkeypatch, account_id
):
    fail_fills(monkeypatch, Conflict("paper account is busy; retry"))
    reply = await place(call, account_id, symbol="AAPL", side="buy", qty=1)
    assert reply.status == 201
    assert reply.json["status"] == "open"
    monkeypatch.undo()
    await match(call)
    view = await account_view(call, account_id)
    assert view["positions"][0]["qty"] == 1


async def test_a_takeover_of_a_dead_attempt_finds_the_order_it_placed(call, store):
    put_quote(store, "AAPL", 10.0)
    account_id = await open_account(call, 10_000)
    admin = Caller("root", frozenset({"admin"}))
    scope, key = f"paper-order:{account_id}", "died"
    ref = IdempotencyStore._id(scope, key)
    broker = PaperBroker(store, get_settings())
    placed = broker.place_order(
        admin, account_id, OrderIn(symbol="AAPL", side="buy", qty=1), idempotency_ref=ref
    )
    body = {"symbol": "AAPL", "side": "buy", "qty": 1}
    data = OrderIn.model_validate(body)
    request_hash = hashlib.sha256(f"{account_id}\n{data.model_dump_json()}".encode()).hexdigest()
    started = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    pending = {"id": ref, "pk": "root", "scope": scope, "requestHash": request_hash}
    store.create("idempotency", pending | {"state": "pending", "createdAt": started, "ttl": 60})
    reply = await call(
        "POST",
        ORDERS,
        params={"accountId": account_id},
        body=body,
        role="admin",
        account="root",
        headers={"Idempotency-Key": key},
    )
    assert reply.status == 201, reply.body
    assert reply.json["id"] == placed.id
    orders = await call("GET", ORDERS, params={"accountId": account_id})
    assert len(orders.json["items"]) == 1


async def test_a_failure_after_the_order_is_recorded_never_lets_a_retry_place_another(
    call, store, monkeypatch, account_id
):
    fail_fills(monkeypatch, RuntimeError("storage fell over"))
    headers = {"Idempotency-Key": "dies-late"}
    order: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "qty": 1}
    first = await place(call, account_id, headers=headers, **order)
    assert first.status == 500
    monkeypatch.undo()
    soon = await place(call, account_id, headers=headers, **order)
    assert_problem(soon, 409, "Conflict", "Idempotency-Key is still in progress")
    claim = IdempotencyStore._id(f"paper-order:{account_id}", "dies-late")
    record = {k: v for k, v in store.read("idempotency", claim, "alice").items() if k[0] != "_"}
    record["createdAt"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    store.upsert("idempotency", record)
    later = await place(call, account_id, headers=headers, **order)
    assert later.status == 201, later.body
    orders = await call("GET", ORDERS, params={"accountId": account_id})
    assert [o["id"] for o in orders.json["items"]] == [later.json["id"]]


async def test_a_failure_before_the_order_is_recorded_frees_the_key_at_once(
    call, monkeypatch, account_id
):
    fail_first_order(monkeypatch, RuntimeError("storage fell over"))
    headers = {"Idempotency-Key": "dies-early"}
    first = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    second = await place(call, account_id, headers=headers, symbol="AAPL", side="buy", qty=1)
    assert (first.status, second.status) == (500, 201)


def test_matching_repairs_an_order_whose_settlement_write_failed(store, monkeypatch):
    put_quote(store, "AAPL", 100.0)
    broker = PaperBroker(store, get_settings())
    alice = Caller("alice", frozenset({"trader"}))
    from shared.paper import PaperAccountIn

    account = broker.create_account(alice, PaperAccountIn(starting_cash=1_000))
    order = broker.place_order(
        alice,
        account.id,
        OrderIn(
            symbol="AAPL", side="buy", type="limit", qty=1, limit_price=50, time_in_force="gtc"
        ),
    )
    real_upsert = type(store).upsert

    def order_write_fails(self, container, item, **kwargs):
        if item.get("kind") == "order":
            raise RuntimeError("write lost")
        return real_upsert(self, container, item, **kwargs)

    monkeypatch.setattr(type(store), "upsert", order_write_fails)
    with pytest.raises(RuntimeError):
        broker.cancel_order(alice, account.id, order.id)
    monkeypatch.undo()
    assert broker.get_order(alice, account.id, order.id).status == "open"
    assert broker.get_account(alice, account.id).reserved_cash == 0
    broker.match()
    assert broker.get_order(alice, account.id, order.id).status == "cancelled"
    assert broker.match().checked == 0


async def _racing_cancels(call, store, monkeypatch, racers: int) -> tuple[list[Any], str, str]:
    """`racers` cancels of one open order, each past its "is it open?" read before any of
    them settles (a barrier holds them), as concurrent requests on several instances are."""
    put_quote(store, "AAPL", 100.0)
    account_id = await open_account(call, 10_000)
    order = (
        await place(call, account_id, symbol="AAPL", side="buy", type="limit", qty=2, limitPrice=50)
    ).json
    barrier = threading.Barrier(racers, timeout=10)
    real = PaperBroker._order_doc

    def read_then_wait(self, caller, paper_account_id, order_id):
        doc = real(self, caller, paper_account_id, order_id)
        barrier.wait()
        return doc

    monkeypatch.setattr(PaperBroker, "_order_doc", read_then_wait)
    cancel = ORDERS + "/{orderId}/cancel"
    params = {"accountId": account_id, "orderId": order["id"]}
    replies = await asyncio.gather(*(call("POST", cancel, params=params) for _ in range(racers)))
    monkeypatch.undo()
    return list(replies), account_id, order["id"]


@pytest.mark.parametrize("racers", [2, 5])
async def test_of_concurrent_cancels_exactly_one_succeeds_and_one_record_is_written(
    call, store, monkeypatch, racers
):
    replies, account_id, order_id = await _racing_cancels(call, store, monkeypatch, racers)
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [409] * (racers - 1)
    loser = next(r for r in replies if r.status == 409)
    assert loser.mimetype == "application/problem+json"
    assert "already cancelled" in loser.json["detail"]
    winner = next(r for r in replies if r.status == 200)
    assert winner.json["status"] == "cancelled"
    audit = await call(
        "GET", "audit", role="admin", account="root", query={"kind": "order", "account": "alice"}
    )
    actions = [(r["action"], r["target"]) for r in audit.json["items"]]
    target = f"paper/{account_id}/{order_id}"
    assert actions == [("order.cancelled", target), ("order.placed", target)]
    view = await account_view(call, account_id)
    assert (view["cash"], view["reservedCash"]) == (10_000.0, 0.0)


def _cancel_against_a_fill(store, monkeypatch, broker, caller, account_id):
    """Place a limit buy, move the quote through it, then run a cancel and a matching pass
    that both pass their "is it open?" read before either settles. (final status, results)."""
    put_quote(store, "AAPL", 100.0)
    order = broker.place_order(
        caller, account_id, OrderIn(symbol="AAPL", side="buy", type="limit", qty=1, limit_price=90)
    )
    put_quote(store, "AAPL", 89.0)
    barrier = threading.Barrier(2, timeout=10)
    real_settle = PaperBroker._settle

    def both_read_it_open(self, doc, status, **kwargs):
        barrier.wait()
        return real_settle(self, doc, status, **kwargs)

    monkeypatch.setattr(PaperBroker, "_settle", both_read_it_open)
    results: dict[str, Any] = {}

    def cancel():
        try:
            results["cancel"] = broker.cancel_order(caller, account_id, order.id).status
        except Conflict as error:
            results["cancel"] = f"409 {error.detail}"

    def matching():
        results["match"] = broker.match(["AAPL"])

    threads = [threading.Thread(target=cancel), threading.Thread(target=matching)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    monkeypatch.undo()
    return order.id, broker.get_order(caller, account_id, order.id).status, results


def test_a_cancel_racing_a_fill_settles_the_order_once(store, monkeypatch):
    """The matching pass and a cancel both find the order open, then race to settle it:
    exactly one wins, writes one audit record, and the loser's cancel is a 409."""
    from shared.audit import AuditLog
    from shared.paper import PaperAccountIn

    broker = PaperBroker(store, get_settings())
    alice = Caller("alice", frozenset({"trader"}))
    account = broker.create_account(alice, PaperAccountIn(starting_cash=10_000))
    outcomes = []
    rounds = 6
    for _ in range(rounds):
        order_id, final, results = _cancel_against_a_fill(
            store, monkeypatch, broker, alice, account.id
        )
        assert final in ("filled", "cancelled")
        if final == "filled":
            assert results["cancel"] == f"409 order {order_id} is already filled"
            assert results["match"].filled == 1
        else:
            assert results["cancel"] == "cancelled"
            assert results["match"].filled == 0
        outcomes.append(final)
    month = datetime.now(UTC).strftime("%Y-%m")
    records, _ = AuditLog(store).page(month, kind="order", limit=200)
    settled = [r for r in records if r.action in ("order.filled", "order.cancelled")]
    assert len(settled) == rounds, "one settlement record per order"
    assert sorted(r.action.split(".")[1] for r in settled) == sorted(outcomes)
    view = broker.get_account(alice, account.id)
    bought = outcomes.count("filled")
    assert view.reserved_cash == 0
    assert view.cash == pytest.approx(10_000 - bought * 89.0)
