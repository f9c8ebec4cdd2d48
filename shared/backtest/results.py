"""Result artefacts: one combination in detail, and a sweep's leaderboard/tables/chart in Blob."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.backtest.bars import BarsFrame
from shared.backtest.execution import ExecutionSettings
from shared.backtest.spec import ParamValue
from shared.storage.blob import BlobStore

if TYPE_CHECKING:
    from shared.backtest.sweep import SweepResult


@dataclass(eq=False)
class BacktestResult:
    """One combination in detail: per-bar equity and drawdown, the trade log, the metrics."""

    params: dict[str, ParamValue]
    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]


@dataclass(frozen=True)
class ResultRefs:
    """Blob names of a sweep's results (all in the results container)."""

    leaderboard: str
    metrics: str
    equity: str
    trades: str
    chart: str
    heatmap: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaderboard": self.leaderboard,
            "metrics": self.metrics,
            "equity": self.equity,
            "trades": self.trades,
            "chart": self.chart,
            "heatmap": self.heatmap,
            "summary": self.summary,
        }


def simulate_detailed(
    bars: BarsFrame,
    signals: np.ndarray,
    execution: ExecutionSettings,
    warmup: int,
    params: dict[str, ParamValue],
) -> BacktestResult:
    raise NotImplementedError


def write_results(
    sweep: SweepResult,
    bars: BarsFrame,
    blob_store: BlobStore,
    run_id: str,
    *,
    top_n: int = 10,
    metric: str = "sharpe_ratio",
    curves: int = 3,
    prefix: str | None = None,
) -> ResultRefs:
    """Write a sweep's results under `{prefix or run_id/symbol}/`: leaderboard.json (top
    `top_n` by `metric`), metrics.parquet (every combination), equity.parquet and
    trades.parquet (the best `curves` combinations re-run in detail), heatmap.parquet (for
    two swept parameters: metric pivoted over them) and chart.png (equity and drawdown)."""
    raise NotImplementedError


def run_backtest(
    bars: BarsFrame,
    strategy: str,
    params: dict[str, ParamValue],
    execution: ExecutionSettings,
) -> BacktestResult:
    """One combination in detail (equity curve, trades, metrics)."""
    from shared.backtest.strategies import get_strategy

    impl = get_strategy(strategy)
    combo = dict(impl.defaults) | params
    return impl.run_single(bars, combo, execution)
