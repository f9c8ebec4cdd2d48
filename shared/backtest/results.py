"""Result artefacts: one combination by strategy name in detail (`run_backtest`), and a sweep's
leaderboard/tables/chart in Blob (`write_results`)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.backtest.bars import BarsFrame
from shared.backtest.chart import equity_chart
from shared.backtest.execution import ExecutionSettings
from shared.backtest.metrics import METRIC_JSON_NAMES, json_metric_keys
from shared.backtest.simulation import BacktestResult, annualisation, run_single
from shared.backtest.strategies.registry import get_strategy
from shared.backtest.sweep import SweepResult
from shared.backtest.values import ParamValue
from shared.storage.blob import BlobStore


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


def result_refs(
    sweep: SweepResult,
    bars: BarsFrame,
    run_id: str,
    *,
    metric: str = "sharpe_ratio",
    curves: int = 3,
    prefix: str | None = None,
) -> ResultRefs:
    """The names `write_results` writes a sweep's files under, and its best-combination
    summary, without writing anything (a run can complete on these and write the files when
    they are first asked for)."""
    base = (prefix or f"{run_id}/{sweep.symbol or 'bars'}").rstrip("/")
    best = [int(k) for k in sweep.ranking(metric)[: max(curves, 0)]]
    top = sweep.leaderboard(metric, 1)
    row = top.iloc[0].to_dict() if len(top) else {}
    swept = [k for k, v in get_strategy(sweep.spec.strategy).axes(sweep.spec).items() if len(v) > 1]
    summary = {
        "metric": metric,
        "combinations": len(sweep),
        "best_params": dict(sweep.params[best[0]]) if best else {},
        "best_value": _finite(row.get(metric)),
        "best_final_equity": _finite(row.get("final_equity")),
        "best_trades": _finite(row.get("trades")),
        "annualisation": annualisation(bars, sweep.execution),
    }
    return ResultRefs(
        leaderboard=f"{base}/leaderboard.json",
        metrics=f"{base}/metrics.parquet",
        equity=f"{base}/equity.parquet",
        trades=f"{base}/trades.parquet",
        chart=f"{base}/chart.png",
        heatmap=f"{base}/heatmap.parquet" if len(swept) == 2 else None,
        summary=summary,
    )


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
    """Write a sweep's results under `{prefix or run_id/symbol}/` (see `result_refs`):
    leaderboard.json (top `top_n` by `metric`), metrics.parquet (every combination),
    equity.parquet and trades.parquet (the best `curves` combinations re-run in detail),
    heatmap.parquet (for two swept parameters: metric pivoted over them) and, last, chart.png
    (equity and drawdown), so that a chart in Blob means every file is there."""
    refs = result_refs(sweep, bars, run_id, metric=metric, curves=curves, prefix=prefix)
    leaderboard = sweep.leaderboard(metric, top_n)
    table = sweep.to_frame()
    impl = get_strategy(sweep.spec.strategy)
    best = [int(k) for k in sweep.ranking(metric)[: max(curves, 0)]]
    equity_parts, trade_parts = [], []
    for rank, combo in enumerate(best, start=1):
        detail = run_single(impl, bars, sweep.params[combo], sweep.execution, sweep.spec.options)
        eq = detail.equity.reset_index()
        eq.insert(0, "rank", rank)
        eq.insert(1, "combo", combo)
        equity_parts.append(eq)
        tr = detail.trades.copy()
        tr.insert(0, "rank", rank)
        tr.insert(1, "combo", combo)
        tr["exit_reason"] = tr["exit_reason"].astype(str)
        trade_parts.append(tr)
    board = {
        "strategy": sweep.spec.strategy,
        "symbol": sweep.symbol,
        "metric": METRIC_JSON_NAMES[metric],
        "combinations": len(sweep),
        "bars": sweep.n_bars,
        "annualisation": annualisation(bars, sweep.execution),
        "rows": [
            json_metric_keys({k: _json_value(v) for k, v in row.items()})
            for row in leaderboard.to_dict(orient="records")
        ],
    }
    blob_store.put(refs.leaderboard, json.dumps(board).encode(), content_type="application/json")
    blob_store.put(refs.metrics, _parquet(table), content_type=PARQUET)
    equity = _concat(equity_parts)
    blob_store.put(refs.equity, _parquet(equity), content_type=PARQUET)
    blob_store.put(refs.trades, _parquet(_concat(trade_parts)), content_type=PARQUET)
    if refs.heatmap is not None:
        swept = [k for k, v in impl.axes(sweep.spec).items() if len(v) > 1]
        grid = table.pivot_table(index=swept[0], columns=swept[1], values=metric, aggfunc="max")
        grid.columns = [str(c) for c in grid.columns]
        blob_store.put(refs.heatmap, _parquet(grid.reset_index()), content_type=PARQUET)
    png = sweep_chart(equity, sweep.params, sweep.symbol, sweep.spec.strategy, metric)
    blob_store.put(refs.chart, png, content_type=PNG)
    return refs


PARQUET = "application/vnd.apache.parquet"
PNG = "image/png"


def sweep_chart(
    equity: pd.DataFrame,
    params: Sequence[Mapping[str, ParamValue]],
    symbol: str,
    strategy: str,
    metric: str,
) -> bytes:
    """The PNG of a sweep's best curves: equity and drawdown of each rank of `equity` (the
    rows of equity.parquet: rank, combo, ts, equity, drawdown_pct), labelled with the
    combination's parameters (`params[combo]`)."""
    curves = []
    for rank, rows in equity.groupby("rank", sort=True) if len(equity) else ():
        combo = int(rows["combo"].iloc[0])
        label = " ".join(f"{k}={v}" for k, v in params[combo].items())
        frame = rows.set_index("ts")[["equity", "drawdown_pct"]]
        curves.append((f"#{rank} {label}", frame))
    title = f"{symbol or 'bars'} {strategy}: best {len(curves)} by {metric}"
    return equity_chart(curves, title)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _parquet(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


def run_backtest(
    bars: BarsFrame,
    strategy: str,
    params: Mapping[str, ParamValue],
    execution: ExecutionSettings,
    options: Mapping[str, str] | None = None,
) -> BacktestResult:
    """One combination in detail (equity curve, trades, metrics)."""
    impl = get_strategy(strategy)
    combo = dict(impl.defaults) | dict(params)
    return run_single(impl, bars, combo, execution, options)
