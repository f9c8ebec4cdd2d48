"""Metric names (backtesting.py definitions where it has them), shared by kernel and reports."""

from __future__ import annotations

METRICS: tuple[str, ...] = (
    "final_equity",
    "equity_peak",
    "total_return_pct",
    "buy_hold_return_pct",
    "return_ann_pct",
    "cagr_pct",
    "volatility_ann_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "max_drawdown_duration_bars",
    "max_drawdown_duration_days",
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "profit_factor",
    "expectancy_pct",
    "sqn",
    "exposure_pct",
    "commissions",
    "probabilistic_sharpe",
)
"""Every metric, in the column order of chunk results and the metrics table."""

METRIC_INDEX = {name: i for i, name in enumerate(METRICS)}
N_METRICS = len(METRICS)
