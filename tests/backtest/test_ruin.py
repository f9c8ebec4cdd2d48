"""Ruin as backtesting.py does it: at equity <= 0 everything is closed at that close, trading
stops, equity stays 0; ruined runs rank after every surviving one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from backtesting.test import GOOG

from shared.backtest import (
    BarsFrame,
    ExecutionSettings,
    StrategySpec,
    WalkForwardWindow,
    evaluate_window,
    run_backtest,
    run_chunk,
    run_sweep,
)
from shared.backtest.metrics import RUIN_NAN_METRICS
from shared.backtest.runs import Best, better, overall_leaderboard
from shared.backtest.sweep import Chunk, rank_key, ranking_order
from tests.backtest.peers import Config, differences, run_peer
from tests.backtest.test_execution import make_bars, run

LONG_SHORT = ExecutionSettings(direction="long_short")
# documented differences on a ruined run (README "Remaining differences"): backtesting.py
# reports annual return 0 and Sharpe/Sortino/Calmar numbers for a wiped-out account
RUIN_DIFFERENCES = frozenset({"return_ann_pct", *RUIN_NAN_METRICS})


def test_a_short_into_a_rally_is_liquidated_at_zero_and_stops() -> None:
    # short 100 units at 100; the price climbs to 262: equity 0 at bar 4 (close 220), not -6,200
    closes = [100, 100, 130, 170, 220, 262]
    bars = make_bars(closes, closes=closes)
    result = run(bars, [-1, 0, 0, 0, 1, -1], direction="long_short", sizing="fractional")
    assert result.ruined
    assert result.ruined_bar == 4
    assert result.equity["equity"].tolist() == [10_000, 10_000, 7_000, 3_000, 0, 0]
    assert len(result.trades) == 1  # the buy signal of bar 4 and the sell of bar 5 never act
    trade = result.trades.iloc[0]
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (4, 220.0, "ruin")
    assert result.metrics["final_equity"] == 0.0
    assert result.metrics["total_return_pct"] == -100.0
    assert result.metrics["return_ann_pct"] == -100.0
    for name in RUIN_NAN_METRICS:
        assert math.isnan(result.metrics[name]), name


def test_surviving_runs_say_so() -> None:
    bars = make_bars([10, 11, 12, 13, 14, 15])
    result = run(bars, [0, 1, 0, -1, 0, 0])
    assert not result.ruined
    assert result.ruined_bar is None
    assert result.metrics["ruined"] == 0.0
    assert math.isnan(result.metrics["ruined_bar"])


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_goog_rsi_long_short_is_ruined_as_in_backtesting_py(goog: BarsFrame, fill: str) -> None:
    params = {"n": 14, "lower": 30, "upper": 70}
    ours = run_backtest(
        goog, "rsi_reversion", params, ExecutionSettings(direction="long_short", fill=fill)
    )
    ref = run_peer(GOOG, "rsi_reversion", params, Config(direction="long_short", fill=fill))
    assert ours.ruined
    assert ref["Equity Final [$]"] == 0.0
    assert ours.trades.iloc[-1].exit_reason == "ruin"
    assert ours.trades.iloc[-1].exit_bar == ours.ruined_bar
    assert (ours.equity["equity"].to_numpy()[ours.ruined_bar :] == 0.0).all()
    assert differences(ours, ref, skip=RUIN_DIFFERENCES) == []
    assert ref["Sharpe Ratio"] == 0.0  # what backtesting.py reports, ranked above Sharpe < 0


def test_sweep_leaderboard_and_chunk_best_put_ruined_runs_last(goog: BarsFrame) -> None:
    spec = StrategySpec(
        strategy="rsi_reversion", grid={"n": [7, 14, 21], "lower": [20, 30], "upper": [70, 80]}
    )
    sweep = run_sweep(goog, spec, LONG_SHORT)
    ruined = sweep.metrics["ruined"] != 0
    assert 0 < ruined.sum() < len(sweep)
    for metric in ("sharpe_ratio", "total_return_pct", "trades", "max_drawdown_pct"):
        order = sweep.ranking(metric)
        assert not ruined[order[: (~ruined).sum()]].any(), metric
        board = sweep.leaderboard(metric, top_n=len(sweep))
        assert board["ruined"].tolist() == sorted(board["ruined"].tolist())
    # "trades": ruined runs may trade more, still never first
    chunk = run_chunk(goog, spec, LONG_SHORT, Chunk(0, 0, len(sweep)))
    best = chunk.best("trades")
    assert best is not None
    assert not chunk.is_ruined(best[0])


def test_ranking_order_and_rank_key_agree() -> None:
    values = np.array([1.0, np.nan, 5.0, -2.0, 9.0, 5.0])
    ruined = np.array([0, 0, 0, 0, 1, 0])
    assert ranking_order(values, ruined).tolist() == [2, 5, 0, 3, 1, 4]
    rows = [
        (v if not math.isnan(v) else None, bool(r)) for v, r in zip(values, ruined, strict=True)
    ]
    by_key = sorted(range(len(rows)), key=lambda k: rank_key(*rows[k]))
    assert by_key == [2, 5, 0, 3, 1, 4]


def test_best_so_far_and_overall_leaderboard_prefer_survivors() -> None:
    ruined = Best(symbol="A", combo=1, params={}, value=50.0, ruined=True)
    alive = Best(symbol="A", combo=2, params={}, value=-3.0, ruined=False)
    assert better(ruined, alive) is alive
    assert better(alive, ruined) is alive
    assert better(None, ruined) is ruined
    symbols = {
        "A": {"leaderboard": [{"symbol": "A", "trades": 90, "ruined": 1.0}]},
        "B": {"leaderboard": [{"symbol": "B", "trades": 3, "ruined": 0.0}]},
    }
    assert [r["symbol"] for r in overall_leaderboard(symbols, "trades", 2)] == ["B", "A"]


def test_walk_forward_selects_a_surviving_combination(goog: BarsFrame) -> None:
    spec = StrategySpec(
        strategy="rsi_reversion", grid={"n": [7, 14, 21], "lower": [20, 30], "upper": [70, 80]}
    )
    in_sample = run_sweep(goog.slice(0, 1500), spec, LONG_SHORT)
    assert in_sample.metrics["ruined"].any()
    window = WalkForwardWindow(0, 0, 1500, 1500, 1700)
    result = evaluate_window(goog, spec, LONG_SHORT, window, in_sample, metric="trades")
    assert result.in_sample["ruined"] == 0.0
