"""What `POST /api/backtests` rejects before a run starts, each with a message naming the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.backtest import runs
from shared.config import get_settings
from shared.errors import GridTooLarge, InvalidInput
from testsupport.bars import write_bars

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


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["9999-12-31", "0001-01-01", "2020-02-30", "1e309", "NaN", "GO\x00OG"])
)
_fields = st.sampled_from(
    ["symbols", "interval", "start", "end", "metric", "topN", "strategyId", "strategyVersion"]
)
_exec_fields = st.sampled_from(
    ["cash", "commission", "commissionFixed", "commission_fixed", "fraction", "stopLossPct",
     "stop_loss_pct", "fill", "sizing", "riskFreeRate", "nope"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(_fields, _scalars | st.lists(_scalars, max_size=3), max_size=4),
    execution=st.dictionaries(_exec_fields, _scalars, max_size=4) | _scalars,
)
def test_arbitrary_request_fields_are_a_request_or_a_422(
    fields: dict[str, Any], execution: Any
) -> None:
    """Whatever JSON lands in a request's fields, parsing ends in a request or in an error the
    API answers with 422 (`InvalidInput` or a pydantic `ValidationError`), never another."""
    body = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross"}} | fields
    body["execution"] = execution
    try:
        text = json.dumps(body)
    except ValueError:
        return
    try:
        request = runs.BacktestRequest.model_validate_json(text)
    except (InvalidInput, ValidationError):
        return
    json.dumps(request.model_dump(mode="json", by_alias=True), allow_nan=False)
