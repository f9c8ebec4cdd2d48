"""What `POST /api/backtests` rejects before a run starts, each with a message naming the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from durable import runs
from shared.config import get_settings
from shared.errors import GridTooLarge, InvalidInput
from tests.durable.bars import write_bars

GRID = {"fast": "5:15:5", "slow": "20:40:10"}


def _request(grid: dict[str, Any] | None = None, **extra: Any) -> runs.BacktestRequest:
    body = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": grid or {}}}
    return runs.BacktestRequest.model_validate(body | extra)


@pytest.fixture
def bars(isolated_settings: Path) -> int:
    return len(write_bars())


def test_a_valid_request_counts_its_combinations(bars: int) -> None:
    assert runs.validate_request(_request(GRID)) == 9


@pytest.mark.parametrize(
    ("grid", "extra", "expected"),
    [
        ({}, {}, "the grid is empty"),
        ({"fast": "5:1:1"}, {}, "an axis without values"),
        ({"fast": "50", "slow": "20"}, {}, "no combination of the sma_cross grid satisfies"),
        (GRID, {"start": "2030-01-01"}, "no 1d bars for GOOG in 2030-01-01..now"),
        (GRID, {"interval": "1m"}, "no 1m bars for GOOG"),
        (GRID, {"walkForward": {"trainBars": 5000, "testBars": 250}}, "trainBars=5000"),
    ],
)
def test_rejected_requests_name_the_problem(
    bars: int, grid: dict[str, Any], extra: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidInput, match=expected):
        runs.validate_request(_request(grid, **extra))


def test_a_grid_above_the_cap_names_the_cap(bars: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKTEST_MAX_COMBINATIONS", "8")
    get_settings.cache_clear()
    expected = r"9 combinations \(9 valid x 1 symbol\(s\)\), more than BACKTEST_MAX_COMBINATIONS=8"
    with pytest.raises(GridTooLarge, match=expected):
        runs.validate_request(_request(GRID))


def test_walk_forward_names_the_bar_count(bars: int) -> None:
    wf = {"walkForward": {"trainBars": bars, "testBars": 250}}
    with pytest.raises(InvalidInput, match=f"GOOG has {bars} 1d bars"):
        runs.validate_request(_request(GRID, **wf))
    wf = {"walkForward": {"trainBars": bars - 1, "testBars": 250}}
    assert runs.validate_request(_request(GRID, **wf)) == 9


def test_end_before_start_is_invalid_input() -> None:
    with pytest.raises(ValidationError, match="end 2010-01-01 is before start 2011-01-01"):
        _request(GRID, start="2011-01-01", end="2010-01-01")
