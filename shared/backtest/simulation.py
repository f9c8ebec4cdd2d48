"""The simulation: a strategy's kernel plans run through the compiled kernel, as metrics per
combination (`run_metrics`, what sweeps use) or one combination in detail with its equity
curve and trade log (`run_single`). The one place that calls the kernel."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shared.backtest.bars import BarsFrame
from shared.backtest.execution import ExecutionSettings
from shared.backtest.kernel import N_TRADE_FIELDS, _run_one, sweep_kernel
from shared.backtest.metrics import METRICS, N_METRICS
from shared.backtest.strategies.base import Combo, KernelPlan, Strategy
from shared.backtest.values import ParamValue

NS_PER_DAY = 86_400_000_000_000


def period_ends(ts: np.ndarray) -> np.ndarray:
    """True on the last bar of each UTC calendar day: returns are taken per day, as
    backtesting.py resamples equity to days (weekly/monthly bars: one bar per period)."""
    day = ts // NS_PER_DAY
    ends = np.empty(ts.shape[0], dtype=np.bool_)
    if ts.shape[0]:
        ends[:-1] = day[1:] != day[:-1]
        ends[-1] = True
    return ends


def period_counts(ends: np.ndarray) -> np.ndarray:
    """counts[j] = number of period ends among bars [0, j)."""
    counts = np.zeros(ends.shape[0] + 1, dtype=np.int64)
    np.cumsum(ends, out=counts[1:])
    return counts


@dataclass(eq=False)
class BacktestResult:
    """One combination in detail: per-bar equity and drawdown, the trade log, the metrics."""

    params: dict[str, ParamValue]
    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]
    annualisation: dict[str, str | float] = field(default_factory=dict)
    """How returns were annualised (`BarsFrame.annualisation`): periodicity, period,
    periodsPerYear (the override in `ExecutionSettings.annual_periods` when given), timeZone."""

    @property
    def ruined(self) -> bool:
        """Equity reached 0 or below: everything was closed at that bar's close, no trade
        after it, equity 0 from there on."""
        return bool(self.metrics["ruined"])

    @property
    def ruined_bar(self) -> int | None:
        """The bar of the liquidation, None when not ruined."""
        return int(self.metrics["ruined_bar"]) if self.ruined else None


def annualisation(bars: BarsFrame, execution: ExecutionSettings) -> dict[str, str | float]:
    """The annualisation a run of `bars` under `execution` uses."""
    report = bars.annualisation()
    if execution.annual_periods:
        report["periodsPerYear"] = execution.annual_periods
    return report


def run_metrics(
    strategy: Strategy,
    bars: BarsFrame,
    combos: Sequence[Combo],
    execution: ExecutionSettings,
    options: Mapping[str, str] | None = None,
    *,
    trade_start: int = 0,
) -> dict[str, np.ndarray]:
    """Metrics of each combination of `strategy` (see `shared.backtest.metrics.METRICS`)."""
    if not combos:
        return {name: np.empty(0) for name in METRICS}
    plans: Iterator[KernelPlan] = strategy.kernel_plans(bars, combos, options or {})
    xv = execution.vector(bars.annual_periods())
    ends = bars.period_ends()
    counts = period_counts(ends)
    tables = [
        sweep_kernel(
            p.code, bars.open, bars.high, bars.low, bars.close, ends, counts, bars.ts,
            p.lines, p.ia, p.fa, p.first_bar, p.warm_bar, trade_start, xv,
        )
        for p in plans
    ]  # fmt: skip
    table = tables[0] if len(tables) == 1 else np.vstack(tables)
    return {name: np.ascontiguousarray(table[:, k]) for k, name in enumerate(METRICS)}


def run_single(
    strategy: Strategy,
    bars: BarsFrame,
    params: Combo,
    execution: ExecutionSettings,
    options: Mapping[str, str] | None = None,
    *,
    trade_start: int = 0,
) -> BacktestResult:
    """One combination of `strategy` in detail: equity curve, trade log and metrics
    (`params` checked against its declaration first)."""
    params = strategy.check(params)
    plan = strategy.kernel_plan(bars, [params], options or {})
    return simulate_detailed(bars, plan, execution, params, trade_start=trade_start)


def simulate_detailed(
    bars: BarsFrame,
    plan: KernelPlan,
    execution: ExecutionSettings,
    params: dict[str, ParamValue],
    *,
    trade_start: int = 0,
) -> BacktestResult:
    """Run the first combination of `plan` through the same kernel code as sweeps, recording
    per-bar equity and every closed trade."""
    n = len(bars)
    ends = bars.period_ends()
    out = np.empty(N_METRICS, dtype=np.float64)
    equity = np.full(n, np.nan, dtype=np.float64)
    trades = np.empty((n + 1, N_TRADE_FIELDS), dtype=np.float64)
    count = _run_one(
        plan.code, bars.open, bars.high, bars.low, bars.close, ends, period_counts(ends), bars.ts,
        plan.lines, plan.ia[0], plan.fa[0], int(plan.first_bar[0]), int(plan.warm_bar[0]),
        trade_start, execution.vector(bars.annual_periods()), out, True, equity, trades,
    )  # fmt: skip
    index = bars.index()
    peak = np.maximum.accumulate(equity)
    equity_frame = pd.DataFrame(
        {"equity": equity, "drawdown_pct": (equity / peak - 1.0) * 100.0}, index=index
    )
    equity_frame.index.name = "ts"
    t = trades[:count]
    entry_bar = t[:, 0].astype(np.int64)
    exit_bar = t[:, 1].astype(np.int64)
    trade_frame = pd.DataFrame(
        {
            "entry_time": index[entry_bar],
            "exit_time": index[exit_bar],
            "entry_bar": entry_bar,
            "exit_bar": exit_bar,
            "size": t[:, 2],
            "entry_price": t[:, 3],
            "exit_price": t[:, 4],
            "pnl": t[:, 5],
            "return_pct": t[:, 6] * 100.0,
            "commission": t[:, 7],
            "exit_reason": pd.Categorical.from_codes(
                t[:, 8].astype(np.int64), ["signal", "stop_loss", "take_profit", "ruin"]
            ),
        }
    )
    return BacktestResult(
        params=dict(params),
        equity=equity_frame,
        trades=trade_frame,
        metrics={name: float(out[k]) for k, name in enumerate(METRICS)},
        annualisation=annualisation(bars, execution),
    )
