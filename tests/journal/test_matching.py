"""FIFO lot matching: every shape computed by hand, plus invariants over random fills."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.journal import match
from tests.journal.factories import T0, fill


def test_round_trip_long_with_fees():
    [trade] = match([fill("buy", 100, 10, fees=1), fill("sell", 100, 12, fees=1, minutes=90)])
    assert trade.side == "long"
    assert trade.status == "closed"
    assert trade.gross_pnl == pytest.approx(200)
    assert trade.fees == pytest.approx(2)
    assert trade.net_pnl == pytest.approx(198)
    assert trade.capital == pytest.approx(1000)
    assert trade.return_on_capital == pytest.approx(0.198)
    assert trade.holding_seconds == 5400
    assert trade.entry_price == 10
    assert trade.exit_price == 12
    assert trade.opened_at == T0
    assert trade.closed_at == T0 + timedelta(minutes=90)


def test_scale_in():
    [trade] = match(
        [fill("buy", 100, 10), fill("buy", 100, 12, minutes=1), fill("sell", 200, 13, minutes=2)]
    )
    assert trade.quantity == 200
    assert trade.entry_price == pytest.approx(11)
    assert trade.gross_pnl == pytest.approx(300 + 100)
    assert trade.capital == pytest.approx(2200)
    assert trade.max_position == 200


def test_scale_out_with_fees_pro_rata():
    [trade] = match(
        [
            fill("buy", 200, 10, fees=2),
            fill("sell", 50, 11, fees=1, minutes=1),
            fill("sell", 150, 9, fees=1, minutes=2),
        ]
    )
    assert trade.gross_pnl == pytest.approx(50 - 150)
    assert trade.fees == pytest.approx(4)
    assert trade.net_pnl == pytest.approx(-104)
    assert trade.exit_price == pytest.approx(9.5)
    assert len(trade.execution_ids) == 3


def test_partial_fills_make_one_trade():
    [trade] = match(
        [
            fill("buy", 30, 10),
            fill("buy", 70, 10),
            fill("sell", 60, 11, minutes=5),
            fill("sell", 40, 11, minutes=5),
        ]
    )
    assert trade.quantity == 100
    assert trade.exit_quantity == 100
    assert trade.gross_pnl == pytest.approx(100)


def test_short():
    [trade] = match([fill("sell", 100, 20, fees=1), fill("buy", 100, 18, fees=1, minutes=3)])
    assert trade.side == "short"
    assert trade.gross_pnl == pytest.approx(200)
    assert trade.net_pnl == pytest.approx(198)
    assert trade.capital == pytest.approx(2000)


def test_flip_through_zero_closes_one_trade_and_opens_the_next():
    flip = fill("sell", 150, 12, fees=3, minutes=1)
    first, second = match(
        [fill("buy", 100, 10, fees=1), flip, fill("buy", 50, 11, fees=1, minutes=2)]
    )
    assert (first.side, second.side) == ("long", "short")
    assert first.gross_pnl == pytest.approx(200)
    assert first.fees == pytest.approx(1 + 2)  # 100 of the flip's 150 units
    assert first.net_pnl == pytest.approx(197)
    assert first.closed_at == second.opened_at == flip.executed_at
    assert second.quantity == 50
    assert second.entry_price == 12
    assert second.gross_pnl == pytest.approx(50)
    assert second.fees == pytest.approx(1 + 1)  # 50 of the flip's 150 units, then the cover
    assert second.net_pnl == pytest.approx(48)
    assert flip.id in first.execution_ids
    assert flip.id in second.execution_ids


def test_fifo_closes_the_oldest_lot_first_and_an_open_trade_stays_open():
    fills = [
        fill("buy", 100, 10),
        fill("buy", 100, 20, minutes=1),
        fill("sell", 100, 25, minutes=2),
    ]
    [trade] = match(fills)
    assert trade.status == "open"
    assert trade.closed_at is None
    assert trade.holding_seconds is None
    assert trade.gross_pnl == pytest.approx(1500)  # FIFO: the 10 lot (LIFO would say 500)
    [closed] = match([*fills, fill("sell", 100, 15, minutes=3)])
    assert closed.gross_pnl == pytest.approx(1500 - 500)
    assert closed.id == trade.id


def test_multiplier_and_currency_conversion():
    [trade] = match(
        [
            fill("buy", 2, 3.5, multiplier=100, currency="EUR", fx_rate=1.1),
            fill("sell", 2, 4.0, multiplier=100, currency="EUR", fx_rate=1.2, minutes=1),
        ]
    )
    assert trade.gross_pnl == pytest.approx(100)
    assert trade.capital == pytest.approx(700)
    assert trade.currency == "EUR"
    assert trade.fx_rate == 1.2
    assert trade.net_pnl_base == pytest.approx(120)


def test_broker_accounts_and_symbols_are_matched_apart():
    trades = match(
        [
            fill("buy", 10, 10, broker_account="U1"),
            fill("sell", 10, 11, broker_account="U2", minutes=1),
            fill("sell", 10, 11, symbol="MSFT", minutes=2),
        ]
    )
    assert [(t.broker_account, t.symbol, t.side, t.status) for t in trades] == [
        ("U1", "AAPL", "long", "open"),
        ("U2", "AAPL", "short", "open"),
        ("U1", "MSFT", "short", "open"),
    ]


def test_result_does_not_depend_on_input_order():
    fills = [
        fill("buy" if i % 3 else "sell", 10 + i, 100 + i, fees=0.5, minutes=i) for i in range(40)
    ]
    expected = match(fills)
    shuffled = fills[:]
    random.Random(7).shuffle(shuffled)
    assert match(shuffled) == expected


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.integers(1, 500),
        st.integers(1, 20_000),
        st.integers(0, 300),
        st.sampled_from(["AAPL", "MSFT"]),
        st.sampled_from(["U1", "U2"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fills_strategy)
def test_trades_sum_to_their_executions(rows):
    fills = [
        fill(side, qty, cents / 100, fees=fee / 100, symbol=sym, broker_account=acct, minutes=i)
        for i, (side, qty, cents, fee, sym, acct) in enumerate(rows)
    ]
    trades = match(fills)
    assert sum(t.quantity + t.exit_quantity for t in trades) == pytest.approx(
        sum(f.quantity for f in fills)
    )
    assert sum(t.fees for t in trades) == pytest.approx(sum(f.fees for f in fills))
    assert sum(len(t.execution_ids) for t in trades) >= len(fills)
    assert {x for t in trades for x in t.execution_ids} == {f.id for f in fills}
    assert sum(t.status == "open" for t in trades) <= 4
    # Every group that ends flat: realized net P&L is the cash that came back, less fees.
    for key in {(f.broker_account, f.symbol) for f in fills}:
        group = [f for f in fills if (f.broker_account, f.symbol) == key]
        position = sum(f.quantity if f.side == "buy" else -f.quantity for f in group)
        mine = [t for t in trades if (t.broker_account, t.symbol) == key]
        if position == 0:
            cash = sum((f.quantity if f.side == "sell" else -f.quantity) * f.price for f in group)
            fees = sum(f.fees for f in group)
            assert all(t.status == "closed" for t in mine)
            assert sum(t.net_pnl for t in mine) == pytest.approx(cash - fees, abs=1e-6)
        else:
            assert mine[-1].status == "open"
            open_size = mine[-1].quantity - mine[-1].exit_quantity
            assert open_size == pytest.approx(abs(position))
