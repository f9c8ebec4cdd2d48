"""Fuzzing the public entry points with a fixed budget: `load_bars` with arbitrary arrays,
dtypes, times and repairs; `run_backtest` and `run_sweep` with valid-looking but extreme
parameters (windows up to 1e9) and settings. Every call ends in a result that holds together
or in `InvalidInput` (a clear 4xx), never another exception, a crash or a hang."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.backtest import (
    ExecutionSettings,
    StrategySpec,
    load_bars,
    run_backtest,
    run_sweep,
)
from shared.backtest.bars import REPAIRS
from shared.backtest.strategies import get_strategy
from shared.errors import InvalidInput
from tests.backtest.peers import BUILT_INS
from tests.backtest.test_properties import executions, ohlc

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
prices = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.01, max_value=1e6),
    st.integers(-5, 10**12),
)


@st.composite
def raw_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    columns = draw(
        st.lists(st.sampled_from(["Open", "high", "LOW", "close", "Volume"]), unique=True)
    )
    data: dict[str, Any] = {}
    for name in columns:
        values = draw(st.lists(prices, min_size=n, max_size=n))
        dtype = draw(st.sampled_from(["float64", "float32", "object", "int64"]))
        try:
            data[name] = pd.array(values, dtype=dtype) if dtype != "object" else values
        except (TypeError, ValueError, OverflowError):
            data[name] = values
        if draw(st.booleans()) and n:
            data[name] = [draw(st.sampled_from(["x", None, "1.5"])), *list(data[name])[1:]]
    times = draw(
        st.lists(st.integers(-(2**62), 2**62) | st.integers(0, 10**10), min_size=n, max_size=n)
    )
    frame = pd.DataFrame(data, index=range(n))
    if draw(st.booleans()):
        frame["ts"] = (
            pd.array(times, dtype="int64") if draw(st.booleans()) else [str(t) for t in times]
        )
    else:
        frame.index = pd.to_datetime(np.asarray(times, dtype=np.int64) % 2**61, unit="ns")
    return frame


repairs = st.one_of(
    st.just(()),
    st.just(True),
    st.lists(st.sampled_from([*REPAIRS, "nonsense"]), max_size=3),
)


@FUZZ
@given(raw_frames(), repairs)
def test_load_bars_gives_sound_bars_or_invalid_input(frame: pd.DataFrame, repair: Any) -> None:
    try:
        bars = load_bars(frame, repair=repair)
    except InvalidInput:
        return
    assert np.all(np.diff(bars.ts) > 0)
    for column in (bars.open, bars.high, bars.low, bars.close):
        assert column.dtype == np.float64
        assert np.all(np.isfinite(column))
        assert np.all(column > 0)
    assert np.all(bars.high >= bars.low)
    try:
        result = run_backtest(bars, "sma_cross", {"fast": 1, "slow": 2}, ExecutionSettings())
    except InvalidInput:
        assert len(bars) < 2
        return
    assert (result.equity["equity"] >= 0).all()


extreme = st.one_of(st.integers(1, 50), st.sampled_from([10**3, 10**6, 10**7, 10**9]))


@st.composite
def extreme_params(draw: st.DrawFn, strategy: str) -> dict[str, Any]:
    """Parameters each strategy's own constraint accepts, windows up to 1e9."""
    while True:
        if strategy in ("sma_cross", "ema_cross"):
            params: dict[str, Any] = {"fast": draw(extreme), "slow": draw(extreme)}
        elif strategy == "macd":
            params = {"fast": draw(extreme), "slow": draw(extreme), "signal": draw(extreme)}
        elif strategy == "rsi_reversion":
            params = {
                "n": draw(extreme),
                "lower": draw(st.integers(0, 99)),
                "upper": draw(st.integers(1, 100)),
            }
        elif strategy == "bollinger_reversion":
            params = {"n": draw(extreme), "k": draw(st.floats(0.01, 1e6))}
        else:
            params = {"entry": draw(extreme), "exit": draw(extreme)}
        if get_strategy(strategy).valid(params):
            return params


def sound(metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        assert isinstance(value, float), name
        assert not math.isinf(value) or name in ("sortino_ratio", "profit_factor"), name
    if not math.isnan(metrics["final_equity"]):
        assert metrics["final_equity"] >= 0


@FUZZ
@given(ohlc(min_bars=2, max_bars=80), st.sampled_from(BUILT_INS), executions, st.data())
def test_run_backtest_with_extreme_windows(bars, strategy, execution, data) -> None:
    params = data.draw(extreme_params(strategy))
    try:
        result = run_backtest(bars, strategy, params, execution)
    except InvalidInput:
        return
    sound(result.metrics)
    assert (result.equity["equity"].to_numpy() >= 0).all()


@FUZZ
@given(ohlc(min_bars=2, max_bars=80), st.sampled_from(BUILT_INS), executions, st.data())
def test_run_sweep_with_extreme_grids(bars, strategy, execution, data) -> None:
    names = list(get_strategy(strategy).defaults)
    grid = {
        name: data.draw(
            st.lists(st.integers(-3, 60) | st.sampled_from([10**6, 10**9]), min_size=1, max_size=3)
        )
        for name in names
    }
    if strategy == "bollinger_reversion":
        grid["k"] = data.draw(st.lists(st.floats(-1.0, 5.0), min_size=1, max_size=2))
    try:
        sweep = run_sweep(bars, StrategySpec(strategy=strategy, grid=grid), execution)
    except InvalidInput:
        return
    for k in range(len(sweep)):
        sound({name: float(values[k]) for name, values in sweep.metrics.items()})
