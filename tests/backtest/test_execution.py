"""The execution model on hand-made bars: fills, sizing, costs, reversals, stops."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from shared.backtest import (
    BarsFrame,
    ExecutionSettings,
    Strategy,
    load_bars,
    register,
    run_backtest,
)
from shared.backtest.strategies.base import Combo
from shared.errors import InvalidInput


@register
class Scripted(Strategy):
    """Signals given by the test: `script[variant]` (+1 long, -1 short/flat, 0 hold)."""

    name = "test_scripted"
    defaults = {"variant": 0}
    script: ClassVar[dict[int, list[int]]] = {}

    def signals(self, bars: BarsFrame, params: Combo) -> np.ndarray:
        return np.asarray(self.script[int(params["variant"])], dtype=np.int8)


def make_bars(opens, highs=None, lows=None, closes=None) -> BarsFrame:
    opens = np.asarray(opens, dtype=float)
    closes = opens + 0.5 if closes is None else np.asarray(closes, dtype=float)
    highs = np.maximum(opens, closes) if highs is None else np.asarray(highs, dtype=float)
    lows = np.minimum(opens, closes) if lows is None else np.asarray(lows, dtype=float)
    index = pd.date_range("2024-01-01", periods=len(opens), freq="D", tz="UTC")
    frame = pd.DataFrame({"Open": opens, "High": highs, "Low": lows, "Close": closes}, index=index)
    return load_bars(frame)


def run(bars: BarsFrame, signals: list[int], **settings: object):
    Scripted.script[0] = signals
    return run_backtest(bars, "test_scripted", {"variant": 0}, ExecutionSettings(**settings))


def test_next_open_fill_whole_units_long_only() -> None:
    bars = make_bars([10, 11, 12, 13, 14, 15])
    result = run(bars, [0, 1, 0, -1, 0, 0])
    trade = result.trades.iloc[0]
    assert (trade.entry_bar, trade.exit_bar) == (2, 4)
    assert (trade.entry_price, trade.exit_price, trade["size"]) == (12.0, 14.0, 833.0)
    assert result.metrics["final_equity"] == pytest.approx(10_000 + 833 * 2)
    assert result.metrics["trades"] == 1
    assert result.equity["equity"].iloc[2] == pytest.approx(10_000 + 833 * 0.5)


def test_close_fill_fractional_units_and_rate_commission() -> None:
    bars = make_bars([10, 11, 12, 13, 14, 15])
    result = run(bars, [0, 1, 0, -1, 0, 0], fill="close", sizing="fractional", commission=0.01)
    trade = result.trades.iloc[0]
    size = 10_000 / (11.5 * 1.01)
    assert (trade.entry_bar, trade.exit_bar) == (1, 3)
    assert trade["size"] == pytest.approx(size)
    expected = 10_000 - size * 11.5 * 0.01 + size * 2 - size * 13.5 * 0.01
    assert result.metrics["final_equity"] == pytest.approx(expected)
    assert result.metrics["commissions"] == pytest.approx(size * (11.5 + 13.5) * 0.01)


def test_slippage_and_fixed_commission_move_fills_against_the_order() -> None:
    bars = make_bars([100, 100, 100, 110, 110])
    result = run(bars, [0, 1, 0, -1, 0], sizing="fractional", slippage_bps=50, commission_fixed=5)
    trade = result.trades.iloc[0]
    assert trade.entry_price == pytest.approx(100.5)
    assert trade.exit_price == pytest.approx(110 * 0.995)
    size = (10_000 - 5) / 100.5
    assert result.metrics["final_equity"] == pytest.approx(
        10_000 - 5 + size * (110 * 0.995 - 100.5) - 5
    )


def test_long_short_reversal_closes_then_opens() -> None:
    bars = make_bars([10, 10, 12, 12, 9, 9])
    result = run(bars, [1, 0, -1, 0, 0, 0], direction="long_short")
    assert len(result.trades) == 1
    first = result.trades.iloc[0]
    assert (first["size"], first.entry_price, first.exit_price) == (999.0, 10.0, 12.0)
    cash = 10_000 + 999 * 2
    short = int(cash * (1 - np.finfo(float).eps) // 12)
    assert result.metrics["final_equity"] == pytest.approx(cash + short * (12 - 9.5))
    long_only = run(bars, [1, 0, -1, 0, 0, 0])
    assert long_only.metrics["final_equity"] == pytest.approx(cash)


def test_stop_loss_wins_when_both_levels_are_hit_in_one_bar() -> None:
    bars = make_bars(
        [100, 100, 100, 100], highs=[100, 100, 100, 111], lows=[100, 100, 100, 94],
        closes=[100, 100, 100, 100],
    )  # fmt: skip
    result = run(bars, [1, 0, 0, 0], stop_loss_pct=5, take_profit_pct=10)
    trade = result.trades.iloc[0]
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 95.0, "stop_loss")


def test_take_profit_and_gap_through_stop_fill_at_open() -> None:
    bars = make_bars([100, 100, 112, 100], highs=[100, 100, 113, 100], closes=[100, 100, 112, 100])
    tp = run(bars, [1, 0, 0, 0], take_profit_pct=10)
    assert (tp.trades.iloc[0].exit_price, tp.trades.iloc[0].exit_reason) == (112.0, "take_profit")
    gap = make_bars([100, 100, 90, 90], lows=[100, 100, 89, 90], closes=[100, 100, 90, 90])
    sl = run(gap, [1, 0, 0, 0], stop_loss_pct=5)
    assert (sl.trades.iloc[0].exit_price, sl.trades.iloc[0].exit_reason) == (90.0, "stop_loss")


def test_short_stop_loss_is_above_entry() -> None:
    bars = make_bars([100, 100, 100, 100], highs=[100, 100, 100, 106], closes=[100] * 4)
    result = run(bars, [-1, 0, 0, 0], direction="long_short", stop_loss_pct=5)
    trade = result.trades.iloc[0]
    assert trade["size"] < 0
    assert (trade.exit_price, trade.exit_reason) == (105.0, "stop_loss")


def test_fixed_fraction_commits_that_share_of_equity() -> None:
    bars = make_bars([10, 10, 10, 10])
    result = run(bars, [1, 0, 0, 0], sizing="fixed_fraction", fraction=0.25)
    assert result.trades.empty
    assert result.equity["equity"].iloc[-1] == pytest.approx(10_000 + 250 * 0.5)


def test_open_trade_at_the_end_counts_in_equity_not_in_trades() -> None:
    bars = make_bars([10, 10, 12, 13])
    result = run(bars, [1, 0, 0, 0])
    assert result.metrics["trades"] == 0
    assert result.metrics["final_equity"] == pytest.approx(10_000 + 999 * 3.5)  # 1-eps sizing


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="fill"):
        ExecutionSettings(fill="vwap")
    with pytest.raises(InvalidInput, match="missing, infinite, zero or negative price"):
        make_bars([10, np.nan, 11])


def test_load_bars_cuts_sorts_and_round_trips_parquet() -> None:
    bars = make_bars([10, 11, 12, 13, 14])
    frame = bars.to_frame().iloc[::-1]
    cut = load_bars(frame, start="2024-01-02", end="2024-01-04T00:00:00+00:00", repair=["sort"])
    assert cut.close.tolist() == [11.5, 12.5, 13.5]
    again = load_bars(cut.to_parquet())
    assert np.array_equal(again.ts, cut.ts)
    assert np.array_equal(again.close, cut.close)
    with pytest.raises(InvalidInput, match="at least 2 bars"):
        run(cut.slice(0, 1), [1])
