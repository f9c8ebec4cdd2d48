"""Built-in strategies through the sweep kernel and the detailed run; Python strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.backtest import (
    METRICS,
    BarsFrame,
    ExecutionSettings,
    Strategy,
    StrategySpec,
    indicators,
    register,
    run_backtest,
    run_sweep,
)
from shared.backtest.strategies.base import Combo

GRIDS = {
    "sma_cross": {"fast": "5:20:5", "slow": "30:60:15"},
    "ema_cross": {"fast": "5:20:5", "slow": "30:60:15"},
    "macd": {"fast": [8, 12], "signal": [5, 9]},
    "rsi_reversion": {"n": [7, 14], "lower": [25, 30], "upper": [70, 75]},
    "bollinger_reversion": {"n": [10, 20], "k": [1.5, 2.0]},
    "donchian_breakout": {"entry": [10, 20], "exit": [5, 10]},
}


def same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_sweep_metrics_equal_the_detailed_run(goog: BarsFrame, name: str) -> None:
    execution = ExecutionSettings(commission=0.001, direction="long_short", stop_loss_pct=8)
    sweep = run_sweep(goog, StrategySpec(strategy=name, grid=GRIDS[name]), execution)
    assert len(sweep) >= 4
    assert (sweep.metrics["trades"] > 0).all()
    for k in (0, len(sweep) - 1):
        detail = run_backtest(goog, name, sweep.params[k], execution)
        assert all(same(detail.metrics[m], sweep.metrics[m][k]) for m in METRICS)
        assert len(detail.trades) == sweep.metrics["trades"][k]
        assert detail.equity["equity"].iloc[-1] == sweep.metrics["final_equity"][k]
        assert detail.equity["equity"].iloc[0] == execution.cash


def test_indicator_lines_follow_their_definitions(goog: BarsFrame) -> None:
    close = pd.Series(goog.close)
    assert np.array_equal(
        indicators.sma(goog.close, 10), close.rolling(10).mean().to_numpy(), equal_nan=True
    )
    prefix = indicators.sma(goog.close, 10, "prefix")
    assert np.allclose(prefix[9:], close.rolling(10).mean().to_numpy()[9:], rtol=1e-12)
    rsi = indicators.rsi(goog.close, 14)
    assert np.isnan(rsi[:14]).all()
    assert ((rsi[14:] >= 0) & (rsi[14:] <= 100)).all()
    hh = indicators.highest_before(goog.high, 5)
    assert hh[5] == goog.high[:5].max()
    assert np.isnan(hh[4])


@register
class PySmaCross(Strategy):
    """The SMA cross written as a Python signal function."""

    name = "test_py_sma_cross"
    defaults = {"fast": 10, "slow": 30}

    def valid(self, params: Combo) -> bool:
        return params["fast"] < params["slow"]

    def warmup(self, params: Combo) -> int:
        return int(params["slow"])

    def signals(self, bars: BarsFrame, params: Combo) -> np.ndarray:
        fast = indicators.sma(bars.close, int(params["fast"]))
        slow = indicators.sma(bars.close, int(params["slow"]))
        above = fast > slow
        below = fast < slow
        out = np.zeros(len(bars), dtype=np.int8)
        out[1:][above[1:] & below[:-1]] = 1
        out[1:][below[1:] & above[:-1]] = -1
        return out


def test_registered_python_strategy_runs_by_name_like_the_builtin(goog: BarsFrame) -> None:
    execution = ExecutionSettings(commission=0.002, direction="long_short")
    grid = {"fast": [10, 15], "slow": [30, 50]}
    ours = run_sweep(goog, StrategySpec(strategy="test_py_sma_cross", grid=grid), execution)
    builtin = run_sweep(goog, StrategySpec(strategy="sma_cross", grid=grid), execution)
    assert np.array_equal(ours.metrics["trades"], builtin.metrics["trades"])
    assert np.array_equal(ours.metrics["final_equity"], builtin.metrics["final_equity"])


@pytest.mark.parametrize("cross", ["strict", "sticky"])
def test_prefix_averages_from_one_sum_row_equal_stored_prefix_lines(
    goog: BarsFrame, cross: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the lines budget, `ma=prefix` keeps one prefix-sum row instead of a row per
    window; same bits."""
    from shared.backtest.strategies import builtin

    monkeypatch.setattr(builtin, "LINES_BUDGET_BYTES", 0)
    from shared.backtest.kernel import RULE_CROSS, RULE_CROSS_STICKY, sweep_kernel
    from shared.backtest.simulation import period_counts, period_ends

    grid = {"fast": [2, 5, 10, 24], "slow": [4, 12, 32, 117]}
    spec = StrategySpec(strategy="sma_cross", grid=grid, options={"ma": "prefix", "cross": cross})
    execution = ExecutionSettings(commission=0.002, direction="long_short")
    sweep = run_sweep(goog, spec, execution)
    combos = spec.combinations()
    windows = sorted({int(c[k]) for c in combos for k in ("fast", "slow")})
    lines = np.vstack([indicators.sma(goog.close, w, "prefix") for w in windows])
    ia = np.array([[windows.index(int(c[k])) for k in ("fast", "slow")] for c in combos])
    warm = np.array([int(c["slow"]) - 1 for c in combos])
    ends = period_ends(goog.ts)
    table = sweep_kernel(
        RULE_CROSS_STICKY if cross == "sticky" else RULE_CROSS,
        goog.open, goog.high, goog.low, goog.close, ends, period_counts(ends), goog.ts,
        lines, ia, np.zeros((len(combos), 1)), warm + 1, warm, 0,
        execution.vector(goog.annual_periods()),
    )  # fmt: skip
    for k, name in enumerate(METRICS):
        assert np.array_equal(table[:, k], sweep.metrics[name], equal_nan=True), name
