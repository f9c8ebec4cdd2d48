"""Metric names (backtesting.py definitions where it has them), shared by kernel and reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_camel

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
    "ruined",
    "ruined_bar",
)
"""Every metric, in the column order of chunk results and the metrics table. `ruined` is 1.0
when equity reached 0 or below (the run was liquidated there and stopped trading), else 0.0;
`ruined_bar` is the bar of the liquidation (NaN when not ruined)."""

RUIN_NAN_METRICS: tuple[str, ...] = (
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "probabilistic_sharpe",
)
"""Ratio metrics that are NaN for a ruined run (a ratio on a wiped-out account means nothing);
its `return_ann_pct` is -100."""

METRIC_JSON_NAMES: dict[str, str] = {name: to_camel(name) for name in METRICS}
"""Each metric's camelCase name in JSON (HTTP responses, summary/leaderboard JSON); Parquet
columns and Python keep the snake_case names of `METRICS`."""

_BY_ANY_NAME = {**{v: k for k, v in METRIC_JSON_NAMES.items()}, **{k: k for k in METRICS}}


def metric_column(name: str) -> str:
    """The snake_case metric for a name given in camelCase (`sharpeRatio`) or snake_case;
    ValueError naming the choices if unknown."""
    try:
        return _BY_ANY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; choose one of {', '.join(METRIC_JSON_NAMES.values())}"
        ) from None


def json_metric_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    """`row` with its metric keys renamed to camelCase; other keys (parameters) unchanged."""
    return {METRIC_JSON_NAMES.get(key, key): value for key, value in row.items()}


METRIC_INDEX = {name: i for i, name in enumerate(METRICS)}
N_METRICS = len(METRICS)
