"""The engine against backtesting.py 0.6.6 on its own GOOG data: same trades, same equity."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG, SMA

from shared.backtest import (
    BarsFrame,
    ExecutionSettings,
    StrategySpec,
    SweepResult,
    run_backtest,
    run_sweep,
)
from tests.backtest.peers import METRIC_PAIRS

EXECUTION = ExecutionSettings(cash=10_000, commission=0.002, direction="long_short")

# Pairs whose two SMAs are exactly equal on some bar (2-decimal prices): crossovers there
# depend on how the averages are summed, so they are always part of the grid.
TIE_PAIRS = [(2, 4), (5, 8), (5, 25), (6, 117), (10, 12), (10, 22), (11, 12), (12, 26), (24, 32)]


class SmaCross(Strategy):
    fast = 10
    slow = 20

    def init(self) -> None:
        self.fast_ma = self.I(SMA, self.data.Close, self.fast)
        self.slow_ma = self.I(SMA, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.fast_ma, self.slow_ma):
            self.position.close()
            self.buy()
        elif crossover(self.slow_ma, self.fast_ma):
            self.position.close()
            self.sell()


def reference(fast: int, slow: int) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(GOOG, SmaCross, cash=10_000, commission=0.002)
        return bt.run(fast=fast, slow=slow)


def test_sma_cross_10_20_matches_trades_equity_and_metrics(goog: BarsFrame) -> None:
    ours = run_backtest(goog, "sma_cross", {"fast": 10, "slow": 20}, EXECUTION)
    ref = reference(10, 20)
    assert ours.metrics["trades"] == ref["# Trades"]
    assert abs(ours.metrics["final_equity"] - ref["Equity Final [$]"]) < 0.01
    assert len(ours.trades) == len(ref["_trades"])
    assert list(ours.trades["entry_bar"]) == list(ref["_trades"]["EntryBar"])
    assert list(ours.trades["size"].astype(int)) == list(ref["_trades"]["Size"])
    pairs = {k: v for k, v in METRIC_PAIRS.items() if k not in ("final_equity", "trades")}
    for ours_name, ref_name in pairs.items():
        assert math.isclose(ours.metrics[ours_name], ref[ref_name], rel_tol=1e-9), ours_name
    assert ours.metrics["max_drawdown_duration_days"] == ref["Max. Drawdown Duration"].days


@pytest.mark.slow
def test_grid_of_pairs_matches_including_sma_ties(goog: BarsFrame) -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "5:50:5", "slow": "10:100:10"})
    sweep = run_sweep(goog, spec, EXECUTION)
    assert len(sweep) >= 50
    pairs = [(int(p["fast"]), int(p["slow"])) for p in sweep.params]
    for fast, slow in TIE_PAIRS:
        tie = run_sweep(
            goog, StrategySpec(strategy="sma_cross", params={"fast": fast, "slow": slow}), EXECUTION
        )
        sweep.metrics["final_equity"] = _append(sweep.metrics["final_equity"], tie, "final_equity")
        sweep.metrics["trades"] = _append(sweep.metrics["trades"], tie, "trades")
        pairs.append((fast, slow))
    mismatches = []
    for k, (fast, slow) in enumerate(pairs):
        ref = reference(fast, slow)
        equity, trades = sweep.metrics["final_equity"][k], sweep.metrics["trades"][k]
        if trades != ref["# Trades"] or abs(equity - ref["Equity Final [$]"]) >= 0.01:
            mismatches.append(
                (fast, slow, trades, ref["# Trades"], equity, ref["Equity Final [$]"])
            )
    assert not mismatches
    assert len(pairs) == 84


def _append(values: np.ndarray, other: SweepResult, name: str) -> np.ndarray:
    return np.concatenate([values, other.metrics[name]])


@pytest.mark.parametrize(("fast", "slow"), [(10, 22), (24, 32)])
def test_prefix_summation_diverges_from_backtesting_py_on_ties(
    goog: BarsFrame, fast: int, slow: int
) -> None:
    """Pins the summation rule: prefix sums (vectorbt's MA) decide these tied crossovers
    otherwise, the default rolling sum (pandas' rolling mean, backtesting.py's SMA) does not."""
    ref = reference(fast, slow)
    params = {"fast": fast, "slow": slow}
    rolling = run_backtest(goog, "sma_cross", params, EXECUTION)
    assert rolling.metrics["trades"] == ref["# Trades"]
    spec = StrategySpec(strategy="sma_cross", params=params, options={"ma": "prefix"})
    prefix = run_sweep(goog, spec, EXECUTION)
    assert prefix.metrics["trades"][0] != ref["# Trades"]
    assert abs(prefix.metrics["final_equity"][0] - ref["Equity Final [$]"]) > 1.0
