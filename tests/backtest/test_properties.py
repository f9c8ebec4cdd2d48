"""Invariants on random OHLC series, random valid parameters and random execution settings
(hypothesis, fixed budget): equity never below 0 and no trade after ruin; cash + position
value = equity at every bar; a sweep row = its single run on every metric; chunking, including
through JSON, changes nothing."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.backtest import (
    BarsFrame,
    ChunkResult,
    ExecutionSettings,
    StrategySpec,
    aggregate,
    load_bars,
    run_backtest,
    run_chunk,
    run_sweep,
)
from shared.backtest.metrics import METRICS
from shared.backtest.strategies import get_strategy
from shared.backtest.sweep import Chunk
from tests.backtest.peers import BUILT_INS

BUDGET = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def ohlc(
    draw: st.DrawFn, min_bars: int = 40, max_bars: int = 160, rally: bool = False
) -> BarsFrame:
    """A positive random walk with wild moves (so some runs are ruined), valid bars."""
    n = draw(st.integers(min_bars, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.01, 0.05, 0.25]))
    drift = draw(st.sampled_from([0.04, 0.08] if rally else [0.0, 0.0, 0.04]))
    rng = np.random.default_rng(seed)
    steps = rng.normal(drift, scale, n)
    close = np.maximum(np.round(100 * np.exp(np.cumsum(steps)), 2), 0.01)
    opn = np.maximum(
        np.round(np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, scale / 2, n)), 2), 0.01
    )
    high = np.maximum(opn, close) * (1 + rng.uniform(0, scale, n))
    low = np.minimum(opn, close) * (1 - rng.uniform(0, min(scale, 0.5), n))
    frame = pd.DataFrame(
        {"Open": opn, "High": high, "Low": low, "Close": close},
        index=pd.date_range("2021-01-04", periods=n, freq="D", tz="UTC"),
    )
    return load_bars(frame)


@st.composite
def valid_params(draw: st.DrawFn, strategy: str, max_window: int) -> dict[str, Any]:
    w = st.integers(2, max(2, max_window))
    if strategy in ("sma_cross", "ema_cross"):
        fast = draw(st.integers(1, max(1, max_window - 1)))
        return {"fast": fast, "slow": draw(st.integers(fast + 1, max(fast + 1, max_window)))}
    if strategy == "macd":
        fast = draw(st.integers(1, max(1, max_window // 2)))
        slow = draw(st.integers(fast + 1, max(fast + 1, max_window)))
        return {"fast": fast, "slow": slow, "signal": draw(st.integers(1, 9))}
    if strategy == "rsi_reversion":
        lower = draw(st.integers(5, 60))
        return {"n": draw(w), "lower": lower, "upper": draw(st.integers(lower + 1, 99))}
    if strategy == "bollinger_reversion":
        return {"n": draw(w), "k": draw(st.floats(0.1, 3.0))}
    return {"entry": draw(st.integers(1, max_window)), "exit": draw(st.integers(1, max_window))}


executions = st.builds(
    ExecutionSettings,
    fill=st.sampled_from(["next_open", "close"]),
    direction=st.sampled_from(["long_only", "long_short"]),
    commission=st.sampled_from([0.0, 0.001, 0.01]),
    commission_fixed=st.sampled_from([0.0, 1.0]),
    slippage_bps=st.sampled_from([0.0, 5.0]),
    sizing=st.sampled_from(["all_cash_units", "fractional", "fixed_fraction"]),
    fraction=st.sampled_from([0.5, 1.0]),
    stop_loss_pct=st.sampled_from([None, 2.0, 20.0]),
    take_profit_pct=st.sampled_from([None, 3.0, 50.0]),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[BarsFrame, str, dict[str, Any], ExecutionSettings]:
    bars = draw(ohlc())
    strategy = draw(st.sampled_from(BUILT_INS))
    params = draw(valid_params(strategy, len(bars) // 3))
    return bars, strategy, params, draw(executions)


@st.composite
def rallies(draw: st.DrawFn) -> tuple[BarsFrame, str, dict[str, Any], ExecutionSettings]:
    """Steep rallies traded long-short: the shorts are often wiped out."""
    bars = draw(ohlc(rally=True))
    strategy = draw(st.sampled_from(BUILT_INS))
    params = draw(valid_params(strategy, len(bars) // 3))
    execution = draw(executions).model_copy(update={"direction": "long_short"})
    return bars, strategy, params, execution


def rally_bars(n: int = 120, seed: int = 3) -> BarsFrame:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0.06, 0.05, n))), 2)
    frame = pd.DataFrame(
        {"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close},
        index=pd.date_range("2021-01-04", periods=n, freq="D", tz="UTC"),
    )
    return load_bars(frame)


RUINOUS = (
    rally_bars(),
    "rsi_reversion",
    {"n": 2, "lower": 5, "upper": 65},
    ExecutionSettings(direction="long_short", sizing="fractional", commission=0.001),
)
"""A short held into a rally: a ruined run every property run sees (`@example`)."""


def test_the_ruinous_example_is_ruined() -> None:
    assert run_backtest(*RUINOUS).ruined


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@BUDGET
@given(st.one_of(cases(), rallies()))
@example(RUINOUS)
def test_equity_never_negative_and_nothing_after_ruin(case: tuple) -> None:
    bars, strategy, params, execution = case
    result = run_backtest(bars, strategy, params, execution)
    equity = result.equity["equity"].to_numpy()
    assert (equity >= 0).all()
    if result.ruined:
        bar = result.ruined_bar
        assert bar is not None
        assert (equity[bar:] == 0).all()
        assert (result.trades["exit_bar"] <= bar).all()
        assert (result.trades["entry_bar"] <= bar).all()
        assert math.isnan(result.metrics["sharpe_ratio"])
    else:
        assert (equity > 0).all()


@BUDGET
@given(st.one_of(cases(), rallies()))
@example(RUINOUS)
def test_cash_plus_position_value_is_the_equity(case: tuple) -> None:
    """Rebuilt from the trade log: cash = start + booked P&L - the open trade's entry
    commission; position value = size x (close - entry). Checked on every bar up to the last
    closed trade (a trade still open at the end is not in the log)."""
    bars, strategy, params, execution = case
    result = run_backtest(bars, strategy, params, execution)
    trades = result.trades
    if trades.empty:  # nothing closed: no bar to rebuild
        return
    equity = result.equity["equity"].to_numpy()
    entry_bar = trades["entry_bar"].to_numpy()
    exit_bar = trades["exit_bar"].to_numpy()
    size = trades["size"].to_numpy()
    entry = trades["entry_price"].to_numpy()
    entry_comm = execution.commission_fixed + np.abs(size) * entry * execution.commission
    bar = np.arange(int(exit_bar.max()))[:, None]  # bars x trades
    done = exit_bar <= bar
    held = (entry_bar <= bar) & (exit_bar > bar)
    cash = execution.cash + (done * trades["pnl"].to_numpy()).sum(1) - (held * entry_comm).sum(1)
    value = (held * size * (bars.close[bar] - entry)).sum(1)
    np.testing.assert_allclose(cash + value, equity[: bar.shape[0]], rtol=1e-9, atol=1e-6)


@BUDGET
@given(ohlc(), st.sampled_from(BUILT_INS), executions, st.data())
def test_every_sweep_row_is_its_single_run(
    bars: BarsFrame, strategy: str, execution: ExecutionSettings, data: st.DataObject
) -> None:
    combos = [data.draw(valid_params(strategy, len(bars) // 3)) for _ in range(3)]
    names = list(get_strategy(strategy).defaults)
    grid = {name: sorted({c[name] for c in combos}) for name in names}
    sweep = run_sweep(bars, StrategySpec(strategy=strategy, grid=grid), execution)
    for k, params in enumerate(sweep.params):
        single = run_backtest(bars, strategy, params, execution)
        for name in METRICS:
            assert same(single.metrics[name], float(sweep.metrics[name][k])), (params, name)


@BUDGET
@given(ohlc(), st.sampled_from(BUILT_INS), executions, st.data())
def test_chunks_in_any_cut_through_json_equal_the_whole(
    bars: BarsFrame, strategy: str, execution: ExecutionSettings, data: st.DataObject
) -> None:
    combos = [data.draw(valid_params(strategy, len(bars) // 3)) for _ in range(4)]
    grid = {name: sorted({c[name] for c in combos}) for name in get_strategy(strategy).defaults}
    spec = StrategySpec(strategy=strategy, grid=grid)
    whole = run_sweep(bars, spec, execution)
    total = len(whole)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, total - 1)), max_size=4))))
    bounds = [0, *[c for c in cuts if 0 < c < total], total]
    parts = []
    for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
        part = run_chunk(bars, spec, execution, Chunk(index, start, stop))
        parts.append(ChunkResult.from_dict(json.loads(json.dumps(part.to_dict()))))
    chunked = aggregate(spec, execution, len(bars), list(reversed(parts)))
    assert chunked.digest() == whole.digest()
