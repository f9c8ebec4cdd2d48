"""`SweepResult.to_frame` and `leaderboard`, built column-wise in one go, equal the frame built a
column at a time (the construction they replaced), for any parameters and metric values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.backtest import ExecutionSettings, StrategySpec
from shared.backtest.metrics import METRICS
from shared.backtest.sweep import SweepResult

SPEC = StrategySpec(strategy="sma_cross", grid={"fast": "5", "slow": "20"})
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _column_at_a_time(sweep: SweepResult) -> pd.DataFrame:
    frame = pd.DataFrame(sweep.params)
    frame.insert(0, "combo", np.arange(len(sweep.params), dtype=np.int64))
    for name in METRICS:
        frame[name] = sweep.metrics[name]
    return frame


@st.composite
def sweeps(draw: st.DrawFn) -> SweepResult:
    n = draw(st.integers(1, 40))
    ints = draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n))
    reals = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
    params: list[dict[str, int | float]] = [
        {"fast": a, "k": b} for a, b in zip(ints, reals, strict=True)
    ]
    metrics = {
        name: np.array(draw(st.lists(FLOATS, min_size=n, max_size=n)), dtype=np.float64)
        for name in METRICS
    }
    metrics["ruined"] = np.array(
        draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    )
    return SweepResult(SPEC, ExecutionSettings(), 100, params, metrics)


@settings(max_examples=60, deadline=None)
@given(sweeps(), st.integers(1, 50), st.sampled_from(["sharpe_ratio", "trades", "final_equity"]))
def test_frames_equal_the_column_at_a_time_frames(
    sweep: SweepResult, top: int, metric: str
) -> None:
    reference = _column_at_a_time(sweep)
    pd.testing.assert_frame_equal(sweep.to_frame(), reference, check_exact=True)
    expected = reference.iloc[sweep.ranking(metric)[:top]].reset_index(drop=True)
    pd.testing.assert_frame_equal(sweep.leaderboard(metric, top), expected, check_exact=True)
