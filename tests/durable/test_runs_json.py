"""The backtest request's metric names and the results' JSON casing (camelCase at the edge)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.backtest import METRICS, runs

SPEC = {"strategy": "sma_cross", "grid": {"fast": "5:15:5", "slow": "20:40:10"}}


@pytest.mark.parametrize(
    ("given", "wire", "column"),
    [
        ("sharpeRatio", "sharpeRatio", "sharpe_ratio"),
        ("sharpe_ratio", "sharpeRatio", "sharpe_ratio"),
        ("maxDrawdownDurationBars", "maxDrawdownDurationBars", "max_drawdown_duration_bars"),
        ("sqn", "sqn", "sqn"),
    ],
)
def test_metric_accepts_camel_case_and_its_snake_case_alias(
    given: str, wire: str, column: str
) -> None:
    request = runs.BacktestRequest.model_validate(
        {"symbols": ["GOOG"], "strategy": SPEC, "metric": given}
    )
    assert request.metric == wire
    assert request.metric_column == column
    assert request.model_dump(by_alias=True)["metric"] == wire


def test_default_metric_is_camel_case_and_unknown_ones_name_the_choices() -> None:
    assert runs.BacktestRequest.model_validate({"symbols": ["GOOG"], "strategy": SPEC}).metric == (
        "sharpeRatio"
    )
    with pytest.raises(ValidationError, match=r"unknown metric 'moon'.*sharpeRatio, sortinoRatio"):
        runs.BacktestRequest.model_validate(
            {"symbols": ["GOOG"], "strategy": SPEC, "metric": "moon"}
        )
    assert len(METRICS) == 26


def test_overall_leaderboard_ranks_rows_across_symbols() -> None:
    symbols = {
        "AAA": {
            "leaderboard": [
                {"symbol": "AAA", "sharpeRatio": 0.9},
                {"symbol": "AAA", "sharpeRatio": 0.2},
            ]
        },
        "BBB": {
            "leaderboard": [
                {"symbol": "BBB", "sharpeRatio": 1.5},
                {"symbol": "BBB", "sharpeRatio": 0.5},
                {"symbol": "BBB", "sharpeRatio": None},
            ]
        },
        "CCC": {"walkForward": [], "outOfSample": {}},
    }
    board = runs.overall_leaderboard(symbols, "sharpeRatio", 4)
    assert [(row["symbol"], row["sharpeRatio"]) for row in board] == [
        ("BBB", 1.5),
        ("AAA", 0.9),
        ("BBB", 0.5),
        ("AAA", 0.2),
    ]
    assert runs.overall_leaderboard(symbols, "sharpeRatio", 10)[-1]["sharpeRatio"] is None


def test_ranked_rows_put_ruined_ones_last_whatever_their_value() -> None:
    rows: list[dict[str, Any]] = [
        {"window": 0, "sharpeRatio": 3.0, "ruined": 1.0},
        {"window": 1, "sharpeRatio": None, "ruined": 0.0},
        {"window": 2, "sharpeRatio": 0.4, "ruined": 0.0},
        {"window": 3, "sharpeRatio": 1.2, "ruined": 0.0},
    ]
    assert [row["window"] for row in runs.ranked(rows, "sharpeRatio", 10)] == [3, 2, 1, 0]
    assert [row["window"] for row in runs.ranked(rows, "sharpeRatio", 2)] == [3, 2]
