"""The kernel cannot read outside its arrays, whatever it is given: warm-ups of at least the
number of bars, windows of 1e9, one or two bars, a trade start past the end, malformed plans.
One test runs it all again in a child process with numba's bounds checking on
(NUMBA_BOUNDSCHECK=1, a fresh cache), where any stray index raises IndexError."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.backtest import BarsFrame, ExecutionSettings
from shared.backtest.kernel import RULE_CROSS_PREFIX, RULE_THRESHOLD, prefix_sums, sweep_kernel
from shared.backtest.metrics import METRIC_INDEX, N_METRICS
from shared.backtest.simulation import BacktestResult, period_counts, simulate_detailed
from shared.backtest.spec import ParamValue
from shared.backtest.strategies import get_strategy
from shared.backtest.strategies.base import KernelPlan

ROOT = Path(__file__).resolve().parents[2]
HUGE: dict[str, dict[str, ParamValue]] = {
    "sma_cross": {"fast": 5, "slow": 10**9},
    "ema_cross": {"fast": 5, "slow": 10**7},
    "macd": {"fast": 12, "slow": 10**9, "signal": 9},
    "rsi_reversion": {"n": 10**9, "lower": 30, "upper": 70},
    "bollinger_reversion": {"n": 10**9, "k": 2.0},
    "donchian_breakout": {"entry": 10**9, "exit": 10**9},
}
SETTINGS = [
    ExecutionSettings(),
    ExecutionSettings(fill="close", direction="long_short", stop_loss_pct=5, take_profit_pct=5),
]


def built_in_plan(name: str, bars: BarsFrame, params: dict[str, ParamValue]) -> KernelPlan:
    impl = get_strategy(name)
    plan = impl.plan(bars, [params], impl.resolve_options({}))
    assert plan is not None
    return plan


def kernel_cases(bars: BarsFrame) -> Iterator[tuple[str, KernelPlan, BarsFrame, int]]:
    """Extreme but type-correct inputs straight to the kernel (no validation in front):
    (label, plan, bars, trade_start)."""
    for name, params in HUGE.items():
        for n in (1, 2, 30):
            part = bars.slice(0, n)
            yield f"{name} n={n}", built_in_plan(name, part, params), part, 0
    small = bars.slice(0, 30)
    ok = built_in_plan("sma_cross", small, {"fast": 2, "slow": 5})
    for start in (29, 30, 10**6, -1):
        yield f"trade_start={start}", ok, small, start
    bad_rows = KernelPlan(ok.code, ok.lines, ok.ia + 7, ok.fa, ok.first_bar, ok.warm_bar)
    yield "line rows out of range", bad_rows, small, 0
    short = KernelPlan(ok.code, ok.lines[:, :10], ok.ia, ok.fa, ok.first_bar, ok.warm_bar)
    yield "lines shorter than the bars", short, small, 0
    sums = prefix_sums(small.close).reshape(1, -1)
    for windows in ([3, 10**9], [0, 5], [-4, 5], [10**18, 2]):
        ia = np.array([windows], dtype=np.int64)
        plan = KernelPlan(RULE_CROSS_PREFIX, sums, ia, np.zeros((1, 1)), ok.first_bar, ok.warm_bar)
        yield f"prefix windows {windows}", plan, small, 0
    no_fa = KernelPlan(
        RULE_THRESHOLD, ok.lines, ok.ia[:, :1], np.zeros((1, 0)), ok.first_bar, ok.warm_bar
    )
    yield "threshold without its levels", no_fa, small, 0


def run_case(
    plan: KernelPlan,
    bars: BarsFrame,
    trade_start: int,
    execution: ExecutionSettings,
    kernel: Callable[..., Any] = sweep_kernel,
) -> tuple[np.ndarray, BacktestResult]:
    ends = bars.period_ends()
    counts = period_counts(ends)
    table = kernel(
        plan.code, bars.open, bars.high, bars.low, bars.close, ends, counts, bars.ts, plan.lines,
        plan.ia, plan.fa, plan.first_bar, plan.warm_bar, trade_start, execution.vector(252.0),
    )  # fmt: skip
    detail = simulate_detailed(bars, plan, execution, {}, trade_start=trade_start)
    return table, detail


def check(label: str, table: np.ndarray, detail_metrics: dict[str, float]) -> None:
    assert table.shape == (1, N_METRICS), label
    same = [
        (a == b) or (math.isnan(a) and math.isnan(b))
        for a, b in zip(table[0], detail_metrics.values(), strict=True)
    ]
    assert all(same), label
    trades = table[0, METRIC_INDEX["trades"]]
    assert trades == 0 or math.isnan(trades), label


@pytest.mark.parametrize("execution", SETTINGS, ids=["next_open", "close_stops"])
def test_extreme_inputs_give_no_trade_and_no_garbage(
    goog: BarsFrame, execution: ExecutionSettings
) -> None:
    for label, plan, bars, start in kernel_cases(goog):
        table, detail = run_case(plan, bars, start, execution)
        check(label, table, detail.metrics)
        if label.endswith("n=30"):  # a warm-up that never fits: no buy-and-hold either
            assert math.isnan(detail.metrics["buy_hold_return_pct"]), label
            assert detail.metrics["final_equity"] == execution.cash, label


def test_the_kernel_under_numba_bounds_checking(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import numpy as np
        from numba import njit
        from backtesting.test import GOOG
        from shared.backtest import load_bars
        from shared.backtest.kernel import sweep_kernel
        from tests.backtest.test_bounds import (
            SETTINGS, built_in_plan, check, kernel_cases, run_case
        )

        @njit
        def stray(a):
            return a[5]

        try:
            stray(np.zeros(1))
        except IndexError:
            pass
        else:
            raise SystemExit("bounds checking is not on")
        bars = load_bars(GOOG)
        count = 0
        for execution in SETTINGS:
            for label, plan, part, start in kernel_cases(bars):
                # the parallel wrapper as Python (its prange a range): the compiled
                # per-combination kernel underneath is what runs with bounds checking
                table, detail = run_case(plan, part, start, execution, sweep_kernel.py_func)
                check(label, table, detail.metrics)
                count += 1
            # an ordinary run, every branch of the bar loop
            plan = built_in_plan("sma_cross", bars, {"fast": 10, "slow": 20})
            run_case(plan, bars, 0, execution, sweep_kernel.py_func)
        print("cases", count)
        """
    )
    env = dict(
        os.environ,
        NUMBA_BOUNDSCHECK="1",
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
        NUMBA_NUM_THREADS="1",
        NUMBA_OPT="0",  # compile time, not speed, matters here
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cases" in done.stdout
