"""Result artefacts: one combination in detail, and a sweep's leaderboard/tables/chart in Blob."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.backtest.bars import BarsFrame
from shared.backtest.execution import ExecutionSettings
from shared.backtest.metrics import METRIC_JSON_NAMES, json_metric_keys
from shared.backtest.spec import ParamValue
from shared.storage.blob import BlobStore

if TYPE_CHECKING:
    from shared.backtest.strategies.base import KernelPlan
    from shared.backtest.sweep import SweepResult


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
    plan: KernelPlan,
    execution: ExecutionSettings,
    params: dict[str, ParamValue],
    *,
    trade_start: int = 0,
) -> BacktestResult:
    """Run the first combination of `plan` through the same kernel code as sweeps, recording
    per-bar equity and every closed trade."""
    from shared.backtest.kernel import N_TRADE_FIELDS, _run_one
    from shared.backtest.metrics import METRICS, N_METRICS
    from shared.backtest.strategies.base import period_counts

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


def annualisation(bars: BarsFrame, execution: ExecutionSettings) -> dict[str, str | float]:
    """The annualisation a run of `bars` under `execution` uses."""
    report = bars.annualisation()
    if execution.annual_periods:
        report["periodsPerYear"] = execution.annual_periods
    return report


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
    from shared.backtest.strategies import get_strategy

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
    from shared.backtest.strategies import get_strategy

    refs = result_refs(sweep, bars, run_id, metric=metric, curves=curves, prefix=prefix)
    leaderboard = sweep.leaderboard(metric, top_n)
    table = sweep.to_frame()
    impl = get_strategy(sweep.spec.strategy)
    best = [int(k) for k in sweep.ranking(metric)[: max(curves, 0)]]
    equity_parts, trade_parts = [], []
    for rank, combo in enumerate(best, start=1):
        detail = impl.run_single(bars, sweep.params[combo], sweep.execution, sweep.spec.options)
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
    from shared.backtest.chart import equity_chart

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
    from shared.backtest.strategies import get_strategy

    impl = get_strategy(strategy)
    combo = dict(impl.defaults) | dict(params)
    return impl.run_single(bars, combo, execution, options)
