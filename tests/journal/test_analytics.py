"""Analytics: hand-computed statistics, filters and breakdowns, and the ratios checked
against empyrical-reloaded on the same daily P&L."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import empyrical
import numpy as np
import pandas as pd
import pytest

from shared.journal import Annotation, match
from shared.journal.analytics import JournalFilter, breakdown, daily, stats
from shared.journal.snapshot import TradeFrame, rows
from tests.journal.factories import fill


def frame_of(trades_spec, notes=None):
    """trades_spec: (day offset, symbol, side, entry, exit, qty); one closed trade each."""
    fills = []
    for index, (day, symbol, side, entry, exit_, qty) in enumerate(trades_spec):
        minutes = day * 1440 + index
        open_side, close_side = ("buy", "sell") if side == "long" else ("sell", "buy")
        fills.append(fill(open_side, qty, entry, symbol=symbol, minutes=minutes))
        fills.append(fill(close_side, qty, exit_, symbol=symbol, minutes=minutes + 30))
    trades = match(fills)
    annotations = {}
    for index, (tags, setup, stop) in (notes or {}).items():
        trade = trades[index]
        annotations[trade.id] = Annotation(
            trade_id=trade.id,
            account="alice",
            tags=tags,
            setup=setup,
            planned_stop=stop,
            updated_at=datetime.now(UTC),
        )
    return TradeFrame(rows(trades, annotations), 1), trades


# 2024-03-04 is a Monday. Net P&L per trade: +100, -50, +200, -25, 0.
SPEC = [
    (0, "AAPL", "long", 10, 11, 100),
    (0, "MSFT", "short", 20, 20.5, 100),
    (1, "AAPL", "long", 10, 12, 100),
    (3, "TSLA", "short", 5, 5.25, 100),
    (4, "MSFT", "long", 7, 7, 100),
]


def test_statistics_by_hand():
    frame, _ = frame_of(SPEC, {0: (["a"], "ORB", 9.0), 1: (["b"], "ORB", 20.5)})
    s = stats(frame, JournalFilter())
    assert (s.trades, s.wins, s.losses, s.breakeven) == (5, 2, 2, 1)
    assert s.net_pnl == pytest.approx(225)
    assert s.win_rate == pytest.approx(0.4)
    assert s.profit_factor == pytest.approx(300 / 75)
    assert s.expectancy == pytest.approx(45)
    assert s.average_win == pytest.approx(150)
    assert s.average_loss == pytest.approx(-37.5)
    assert s.largest_win == pytest.approx(200)
    assert s.largest_loss == pytest.approx(-50)
    # cumulative 100, 50, 250, 225, 225: the deepest fall from a peak is 50
    assert s.max_drawdown == pytest.approx(50)
    # R: +100 / (1 * 100) = 1R and -50 / (0.5 * 100) = -1R
    assert s.r_trades == 2
    assert s.average_r == pytest.approx(0.0)
    assert {b.label: b.count for b in s.r_distribution}["1R..2R"] == 1
    assert {b.label: b.count for b in s.r_distribution}["-1R..-0.5R"] == 1
    assert s.sqn == pytest.approx(0.0)
    assert s.sqn_basis == "r"
    assert s.days == 5  # Mon..Fri


def test_daily_curve_and_calendar():
    frame, _ = frame_of(SPEC)
    points = daily(frame, JournalFilter())
    assert [p.date for p in points] == [date(2024, 3, 4) + timedelta(days=i) for i in range(5)]
    assert [p.pnl for p in points] == pytest.approx([50, 200, 0, -25, 0])
    assert [p.trades for p in points] == [2, 1, 0, 1, 1]
    assert [p.cumulative for p in points] == pytest.approx([50, 250, 250, 225, 225])
    assert [p.drawdown for p in points] == pytest.approx([0, 0, 0, -25, -25])


def test_filters_change_the_figures():
    frame, _ = frame_of(SPEC, {2: (["a", "b"], "ORB", None), 0: (["a"], None, None)})
    assert stats(frame, JournalFilter(symbols=["aapl"])).net_pnl == pytest.approx(300)
    assert stats(frame, JournalFilter(side="short")).net_pnl == pytest.approx(-75)
    assert stats(frame, JournalFilter.model_validate({"tags": "b"})).trades == 1
    assert stats(frame, JournalFilter.model_validate({"tags": "a,zzz"})).trades == 2
    assert stats(frame, JournalFilter(setup="ORB")).net_pnl == pytest.approx(200)
    window = JournalFilter.model_validate({"from": "2024-03-05", "to": "2024-03-07"})
    assert stats(frame, window).trades == 2
    assert stats(frame, JournalFilter(symbols=["NONE"])).trades == 0
    assert stats(frame, JournalFilter(symbols=["NONE"])).win_rate is None


def test_time_zone_moves_days_and_hours():
    frame, _ = frame_of([(0, "AAPL", "long", 10, 11, 1)])
    # opened 14:30 UTC, closed 15:00 UTC on Monday 2024-03-04
    assert daily(frame, JournalFilter())[0].date == date(2024, 3, 4)
    tokyo = JournalFilter(tz="Asia/Tokyo")  # 23:30 / 00:00 next day
    assert daily(frame, tokyo)[0].date == date(2024, 3, 5)
    assert [g.key for g in breakdown(frame, tokyo, "hour")] == ["23"]
    assert [g.key for g in breakdown(frame, JournalFilter(tz="America/New_York"), "hour")] == ["09"]
    with pytest.raises(ValueError, match="IANA"):
        JournalFilter(tz="Mars/Olympus")


def test_breakdowns_partition_the_total():
    frame, _ = frame_of(SPEC, {0: (["a", "b"], "ORB", None), 3: ([], "Fade", None)})
    total = stats(frame, JournalFilter()).net_pnl
    for by in ("symbol", "setup", "weekday", "hour", "holding", "side"):
        groups = breakdown(frame, JournalFilter(), by)
        assert sum(g.trades for g in groups) == 5
        assert sum(g.net_pnl for g in groups) == pytest.approx(total)
    by_symbol = {g.key: g for g in breakdown(frame, JournalFilter(), "symbol")}
    assert by_symbol["AAPL"].net_pnl == pytest.approx(300)
    assert by_symbol["AAPL"].win_rate == 1.0
    tags = {g.key: g.trades for g in breakdown(frame, JournalFilter(), "tag")}
    assert tags == {"a": 1, "b": 1, "(none)": 4}
    assert [g.key for g in breakdown(frame, JournalFilter(), "holding")] == ["30m-2h"]
    assert {g.key for g in breakdown(frame, JournalFilter(), "weekday")} == {
        "Mon",
        "Tue",
        "Thu",
        "Fri",
    }


def test_ratios_match_empyrical_on_the_same_daily_pnl():
    rng = np.random.default_rng(3)
    spec = []
    for day in range(0, 200):
        if day % 7 in (5, 6):
            continue
        for _ in range(int(rng.integers(0, 4))):
            entry = float(rng.uniform(50, 150))
            move = float(rng.normal(0.002, 0.02))
            spec.append((day, "AAPL", "long", entry, round(entry * (1 + move), 2), 10))
    frame, _ = frame_of(spec)
    s = stats(frame, JournalFilter())
    series = pd.Series(
        [p.pnl for p in daily(frame, JournalFilter())],
        index=pd.DatetimeIndex([p.date for p in daily(frame, JournalFilter())]),
    )
    assert s.days == len(series)
    assert s.sharpe == pytest.approx(empyrical.sharpe_ratio(series), rel=1e-9)
    assert s.sortino == pytest.approx(empyrical.sortino_ratio(series), rel=1e-9)
    # Drawdown of cumulative P&L (money, not compounded returns), by pandas.
    cumulative = pd.Series(frame.net[np.argsort(frame.closed_ns)]).cumsum()
    peak = pd.concat([pd.Series([0.0]), cumulative]).cummax().iloc[1:].reset_index(drop=True)
    assert s.max_drawdown == pytest.approx(float((peak - cumulative).max()))
    # SQN on P&L when no trade has a planned stop.
    net = frame.net
    assert s.sqn_basis == "pnl"
    assert s.sqn == pytest.approx(math.sqrt(100) * net.mean() / net.std(ddof=1))
