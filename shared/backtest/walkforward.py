"""Walk-forward: rolling in-sample optimisation windows, each followed by an out-of-sample test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.backtest.bars import BarsFrame
from shared.backtest.execution import ExecutionSettings
from shared.backtest.simulation import run_single
from shared.backtest.spec import StrategySpec
from shared.backtest.strategies.registry import get_strategy
from shared.backtest.sweep import SweepResult, run_sweep
from shared.errors import InvalidInput


@dataclass(frozen=True)
class WalkForwardWindow:
    """Bars [train_start, train_stop) optimise; bars [test_start, test_stop) evaluate."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    def to_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "train_start": self.train_start,
            "train_stop": self.train_stop,
            "test_start": self.test_start,
            "test_stop": self.test_stop,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalkForwardWindow:
        return cls(**{k: int(data[k]) for k in cls.__dataclass_fields__})


@dataclass(eq=False)
class WindowResult:
    """The in-sample winner of one window and its out-of-sample metrics."""

    window: WalkForwardWindow
    params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    equity: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN as null); the equity curve is left out."""
        return {
            "window": self.window.to_dict(),
            "params": self.params,
            "in_sample": _clean(self.in_sample),
            "out_of_sample": _clean(self.out_of_sample),
        }


@dataclass(eq=False)
class WalkForwardResult:
    """Every window's result plus the out-of-sample metrics of the stitched test periods."""

    windows: list[WindowResult]
    out_of_sample: dict[str, float]
    equity: np.ndarray | None = None
    """The chained out-of-sample equity curve (starting at 1.0), one value per test bar."""
    positions: np.ndarray | None = None
    """The bar index (into the whole series) of each value of `equity`."""


def plan_walk_forward(
    n_bars: int,
    *,
    train_bars: int,
    test_bars: int,
    step_bars: int | None = None,
    anchored: bool = False,
) -> list[WalkForwardWindow]:
    """Windows of `train_bars` in-sample then `test_bars` out-of-sample, stepping by
    `step_bars` (default `test_bars`, so test periods tile without overlap); `anchored`
    keeps every training window starting at bar 0."""
    if train_bars < 2 or test_bars < 1:
        raise InvalidInput("walk-forward needs train_bars >= 2 and test_bars >= 1")
    step = step_bars or test_bars
    if step < 1:
        raise InvalidInput("walk-forward step_bars must be >= 1")
    windows: list[WalkForwardWindow] = []
    test_start = train_bars
    while test_start < n_bars:
        train_start = 0 if anchored else test_start - train_bars
        windows.append(
            WalkForwardWindow(
                len(windows), train_start, test_start, test_start,
                min(test_start + test_bars, n_bars),
            )
        )  # fmt: skip
        test_start += step
    if not windows:
        raise InvalidInput(f"{n_bars} bars are too few for a {train_bars}-bar training window")
    return windows


def evaluate_window(
    bars: BarsFrame,
    spec: StrategySpec,
    execution: ExecutionSettings,
    window: WalkForwardWindow,
    in_sample: SweepResult,
    metric: str = "sharpe_ratio",
) -> WindowResult:
    """Pick the in-sample best by `metric` and run it on the window's test bars (indicators
    warm up on the bars before `test_start`; trading and metrics start at `test_start`)."""
    best = int(in_sample.ranking(metric)[0])
    params = dict(in_sample.params[best])
    span = bars.slice(window.train_start, window.test_stop)
    detail = run_single(
        get_strategy(spec.strategy), span, params, execution, spec.options,
        trade_start=window.test_start - window.train_start,
    )  # fmt: skip
    return WindowResult(
        window=window,
        params=params,
        in_sample={k: float(v[best]) for k, v in in_sample.metrics.items()},
        out_of_sample=detail.metrics,
        equity=detail.equity["equity"].to_numpy()[window.test_start - window.train_start :],
    )


def walk_forward(
    bars: BarsFrame,
    spec: StrategySpec,
    execution: ExecutionSettings,
    windows: list[WalkForwardWindow],
    metric: str = "sharpe_ratio",
) -> WalkForwardResult:
    """Every window in this process: in-sample sweep, then out-of-sample evaluation."""
    results = [
        evaluate_window(
            bars, spec, execution, w,
            run_sweep(bars.slice(w.train_start, w.train_stop), spec, execution), metric,
        )
        for w in windows
    ]  # fmt: skip
    return combine_windows(results)


def combine_windows(results: list[WindowResult]) -> WalkForwardResult:
    """Stitch the test periods: compounded return, drawdown of the chained equity, trades."""
    results = sorted(results, key=lambda r: r.window.index)
    chained: list[np.ndarray] = []
    bars: list[np.ndarray] = []
    level = 1.0
    for r in results:
        if r.equity is None or not len(r.equity):
            continue
        start = r.equity[0] if r.equity[0] else 1.0
        curve = level * r.equity / start
        chained.append(curve)
        bars.append(np.arange(r.window.test_start, r.window.test_start + len(curve)))
        level = float(curve[-1])
    equity = np.concatenate(chained) if chained else np.ones(1)
    positions = np.concatenate(bars) if bars else np.zeros(0, dtype=np.int64)
    peak = np.maximum.accumulate(equity)
    sharpes = [r.out_of_sample.get("sharpe_ratio", np.nan) for r in results]
    finite = [x for x in sharpes if np.isfinite(x)]
    summary = {
        "windows": float(len(results)),
        "total_return_pct": (level - 1.0) * 100.0,
        "max_drawdown_pct": float((equity / peak - 1.0).min() * 100.0),
        "trades": float(sum(r.out_of_sample.get("trades", 0.0) for r in results)),
        "mean_sharpe_ratio": float(np.mean(finite)) if finite else float("nan"),
    }
    return WalkForwardResult(results, summary, equity if chained else None, positions)


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if np.isfinite(v) else None) for k, v in values.items()}
