"""The engine against vectorbt for what vectorbt's `Portfolio.from_signals` models the same way:
SMA crossovers with vectorbt's averages and crossover rule (`ma="prefix"`, `cross="sticky"`),
long-only, fills at the signal bar's close, all cash in fractional units, rate and fixed fees.
Every closed trade (entry/exit bar, size, prices, P&L) and the final value within 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.backtest import BarsFrame, ExecutionSettings, StrategySpec, run_backtest

vbt = pytest.importorskip("vectorbt")

PAIRS = [(5, 20), (10, 30), (24, 32), (2, 7)]
FEES = [(0.0, 0.0), (0.002, 0.0), (0.0, 1.0), (0.001, 2.5)]


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "fixed"), FEES)
def test_sma_cross_close_fills_with_fees_match_vectorbt(
    goog: BarsFrame, rate: float, fixed: float
) -> None:
    close = pd.Series(goog.close, index=goog.index())
    fast_ma = vbt.MA.run(close, [f for f, _ in PAIRS], short_name="fast")
    slow_ma = vbt.MA.run(close, [s for _, s in PAIRS], short_name="slow")
    entries = fast_ma.ma_crossed_above(slow_ma)
    exits = fast_ma.ma_crossed_below(slow_ma)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, init_cash=10_000.0, fees=rate, fixed_fees=fixed, size=np.inf
    )
    finals = np.asarray(pf.final_value(), dtype=float)
    records = pf.trades.closed.records
    execution = ExecutionSettings(
        fill="close", sizing="fractional", commission=rate, commission_fixed=fixed
    )
    options = {"ma": "prefix", "cross": "sticky"}
    compared = 0
    for k, (fast, slow) in enumerate(PAIRS):
        spec = StrategySpec(strategy="sma_cross", params={"fast": fast, "slow": slow})
        ours = run_backtest(goog, spec.strategy, spec.params, execution, options)
        theirs = records[records["col"] == k]
        assert len(ours.trades) == len(theirs)
        for column, peer in (
            ("entry_bar", "entry_idx"),
            ("exit_bar", "exit_idx"),
            ("size", "size"),
            ("entry_price", "entry_price"),
            ("exit_price", "exit_price"),
            ("pnl", "pnl"),
        ):
            np.testing.assert_allclose(
                ours.trades[column].to_numpy(dtype=float),
                theirs[peer].to_numpy(dtype=float),
                rtol=1e-9,
                atol=1e-9,
                err_msg=f"{fast}/{slow} {column}",
            )
        np.testing.assert_allclose(ours.metrics["final_equity"], finals[k], rtol=1e-9)
        compared += len(theirs)
    assert compared > 50
