"""MFE/MAE from the lake's bars: intraday when present, else daily, and the result says which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.ingest.bars import BarLake
from shared.journal.excursion import excursion
from shared.journal.matching import match
from shared.market.models import Bar
from shared.storage.factory import lake
from tests.journal.factories import T0, fill
from testsupport.routes import assert_problem

DAY = datetime(2024, 3, 4, tzinfo=UTC)


def bar(interval: str, ts: datetime, high: float, low: float, symbol: str = "AAPL") -> Bar:
    return Bar(
        symbol=symbol, interval=interval, ts=ts, open=low, high=high, low=low, close=high,
        source="yahoo",
    )  # fmt: skip


def store(*bars: Bar) -> BarLake:
    bar_lake = BarLake(lake())
    bar_lake.merge(bars, ingested_at=datetime.now(UTC))
    return bar_lake


def long_trade(entry: float = 100.0, minutes: int = 30):
    # opened 14:30 UTC, closed `minutes` later
    [trade] = match([fill("buy", 10, entry), fill("sell", 10, entry + 1, minutes=minutes)])
    return trade


def test_daily_bars_when_there_is_nothing_finer():
    bars = store(
        bar("1d", DAY - timedelta(days=1), 500, 1),
        bar("1d", DAY, 105, 97),
        bar("1d", DAY + timedelta(days=1), 500, 1),
    )
    found = excursion(bars, long_trade())
    assert (found.basis, found.interval, found.bars) == ("daily", "1d", 1)
    assert (found.mfe, found.mae) == (5, 3)
    assert (found.mfe_money, found.mae_money) == (50, 30)


def test_intraday_bars_win_and_only_those_overlapping_the_trade_count():
    five = timedelta(minutes=5)
    bars = store(
        bar("1d", DAY, 105, 97),
        bar("5m", T0 - 2 * five, 300, 1),  # ended before the entry
        bar("5m", T0 - five + timedelta(minutes=1), 101, 99.5),  # overlaps the entry
        *[bar("5m", T0 + i * five, 103, 99) for i in range(6)],
        bar("5m", T0 + 7 * five, 300, 1),  # after the exit
    )
    found = excursion(bars, long_trade())
    assert (found.basis, found.interval, found.bars) == ("intraday", "5m", 7)
    assert (found.mfe, found.mae) == (3, 1)


def test_short_trade_and_no_bars():
    bars = store(bar("1d", DAY, 105, 97))
    [short] = match([fill("sell", 5, 100), fill("buy", 5, 98, minutes=60)])
    found = excursion(bars, short)
    assert (found.mfe, found.mae) == (3, 5)
    none = excursion(
        bars, match([fill("buy", 1, 10, symbol="MSFT"), fill("sell", 1, 11, symbol="MSFT")])[0]
    )
    assert (none.basis, none.mfe, none.bars) == ("none", None, 0)


async def test_excursion_route(call):
    store(bar("1d", DAY, 105, 97))
    body = {
        "symbol": "AAPL",
        "side": "buy",
        "quantity": 10,
        "price": 100,
        "executedAt": "2024-03-04T09:30:00-05:00",
    }
    await call("POST", "journal/executions", body=body)
    await call(
        "POST",
        "journal/executions",
        body={**body, "side": "sell", "price": 101, "executedAt": "2024-03-04T10:00:00-05:00"},
    )
    [trade] = (await call("GET", "journal/trades")).json["items"]
    reply = await call(
        "GET", "journal/trades/{tradeId}/excursion", params={"tradeId": trade["id"]}, role="viewer"
    )
    assert reply.status == 200
    assert reply.json["basis"] == "daily"
    assert reply.json["mfe"] == pytest.approx(5)
    missing = await call("GET", "journal/trades/{tradeId}/excursion", params={"tradeId": "t-x"})
    assert_problem(missing, 404, "Not found", "trade 't-x' not found")
