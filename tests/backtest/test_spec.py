"""StrategySpec: grid syntax, JSON/YAML, bounded parsing (sizes computed before expansion,
numbers of bounded length and exponent) and validation with errors that name the fix."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.backtest import StrategySpec, parse_axis, parse_grid_args, strategy_names
from shared.backtest.spec import GridLimits, axis_size, parse_grid
from shared.config import get_settings
from shared.errors import (
    DomainError,
    GridTooLarge,
    InvalidInput,
    InvalidNumber,
    InvalidParameter,
    NoValidCombination,
)
from tests.backtest.peers import BUILT_INS

FAST = 0.05
"""CPU seconds (this thread) within which a refused spec is refused (in practice < 1 ms;
CPU time, so a loaded machine does not make the test flaky)."""


def test_grid_syntax() -> None:
    assert parse_axis("5:50:5") == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert parse_axis("1.5:2.5:0.5") == [1.5, 2.0, 2.5]
    assert parse_axis("0.1:0.3:0.1") == [0.1, 0.2, 0.3]  # exact decimal steps, no 0.30000000004
    assert parse_axis("3,7, 9") == [3, 7, 9]
    assert parse_axis("4:6") == [4, 5, 6]
    assert parse_axis("2e1:3e1:5") == [20, 25, 30]
    assert parse_grid_args(["fast=5:15:5", "slow=20"]) == {"fast": "5:15:5", "slow": "20"}
    assert parse_grid(["fast=5:15:5", "slow=20"]) == {"fast": [5, 10, 15], "slow": [20]}
    with pytest.raises(InvalidInput, match="positive step"):
        parse_axis("5:1:0")
    with pytest.raises(InvalidInput, match="name=start:stop:step"):
        parse_grid_args(["fast"])


def test_json_and_yaml_round_trip() -> None:
    spec = StrategySpec.from_yaml(
        "strategy: sma_cross\ngrid:\n  fast: '5:20:5'\n  slow: [30, 60]\noptions: {ma: prefix}\n"
    )
    assert spec.grid == {"fast": [5, 10, 15, 20], "slow": [30, 60]}
    assert StrategySpec.from_json(spec.to_json()) == spec
    assert spec.n_combinations() == 8
    assert spec.grid_size() == 8
    assert spec.combinations()[0] == {"fast": 5, "slow": 30}


def test_constraint_and_fixed_params() -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "10:30:10", "slow": "20:30:10"})
    assert spec.combinations() == [
        {"fast": 10, "slow": 20},
        {"fast": 10, "slow": 30},
        {"fast": 20, "slow": 30},
    ]
    macd = StrategySpec(strategy="macd", grid={"signal": [5, 9]}, params={"fast": 8})
    assert macd.combinations() == [
        {"fast": 8, "slow": 26, "signal": 5},
        {"fast": 8, "slow": 26, "signal": 9},
    ]


def test_values_take_their_declared_type() -> None:
    spec = StrategySpec(
        strategy="rsi_reversion", grid={"n": [14.0], "lower": "25:30:5"}, params={"upper": "70"}
    )
    assert spec.grid == {"n": [14], "lower": [25.0, 30.0]}
    assert isinstance(spec.grid["n"][0], int)
    assert spec.params == {"upper": 70.0}


def _grid(strategy: str, **axes: Any) -> dict[str, Any]:
    return {"strategy": strategy, "grid": axes}


def _params(strategy: str, **params: Any) -> dict[str, Any]:
    return {"strategy": strategy, "params": params}


SMA, RSI, BB = "sma_cross", "rsi_reversion", "bollinger_reversion"


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"strategy": "nope"}, InvalidInput, "unknown strategy 'nope'"),
        (_grid(SMA, speed=[1]), InvalidParameter, "sma_cross has no parameter 'speed'"),
        (_params(SMA, fastt=3), InvalidParameter, "no parameter 'fastt'; its parameters are fast"),
        (_grid(SMA, fast=[2.5]), InvalidParameter, "sma_cross: fast=2.5 must be an integer"),
        (_grid(SMA, fast="0:5"), InvalidParameter, "sma_cross: fast=0 must be >= 1"),
        (_params(BB, k=-1), InvalidParameter, "bollinger_reversion: k=-1.0 must be >= 0"),
        (_params("macd", signal=0), InvalidParameter, "macd: signal=0 must be >= 1"),
        (_params(RSI, upper=101), InvalidParameter, "rsi_reversion: upper=101.0 must be <= 100"),
        (_grid(SMA, fast=None), InvalidInput, "grid axis 'fast' is null"),
        (_grid(SMA, fast=[True]), InvalidNumber, "grid axis 'fast': True is not a number"),
        (_params(SMA, fast=True), InvalidNumber, "params.fast: True is not a number"),
        (_params(BB, k=float("nan")), InvalidNumber, "params.k: nan is not a finite number"),
        (_params(BB, k="1e200000"), InvalidNumber, "params.k: '1e200000' is not a decimal"),
        (_grid(SMA, fast="NaN:5"), InvalidNumber, "'NaN' is not a finite number"),
        (_grid(SMA, fast="1:NaN"), InvalidNumber, "'NaN' is not a finite number"),
        (_grid(SMA, fast="Infinity"), InvalidNumber, "'Infinity' is not a finite number"),
        (_grid(SMA, fast="1e450000"), InvalidNumber, "exponent at most 3 digits"),
        (_grid(SMA, fast=[1e300]), InvalidNumber, "magnitude at most 1e15"),
        (_grid(SMA, fast="1:2:3:4"), InvalidInput, "must be start:stop or start:stop:step"),
        (_grid(SMA, **{"fa\x00st": [1]}), InvalidInput, "printable characters"),
        (
            {"strategy": SMA, "grid": {"fast": [5]}, "params": {"fast": 5}},
            InvalidInput,
            "both fixed and swept",
        ),
    ],
)
def test_invalid_specs_are_refused_when_built(
    spec: dict[str, Any], error: type[DomainError], message: str
) -> None:
    started = time.thread_time()
    with pytest.raises(error, match=message):
        StrategySpec.model_validate(spec)
    assert time.thread_time() - started < FAST


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"strategy": "sma_cross", "grid": {"fast": []}}, "is empty"),
        ({"strategy": "sma_cross", "options": {"ma": "median"}}, "must be one of rolling"),
    ],
)
def test_invalid_specs_say_what_is_wrong_when_expanded(spec: dict, message: str) -> None:
    parsed = StrategySpec.model_validate(spec)
    with pytest.raises(InvalidInput, match=message):
        parsed.combinations()


def test_a_grid_without_a_valid_combination_is_an_error_not_an_empty_sweep() -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "50:60:10", "slow": "10:20:10"})
    with pytest.raises(
        NoValidCombination,
        match=r"no combination of the sma_cross grid satisfies fast < slow "
        r"\(fast 50\.\.60, slow 10\.\.20\)",
    ):
        spec.n_combinations()
    rsi = StrategySpec(strategy="rsi_reversion", grid={"lower": [60, 70]}, params={"upper": 50})
    with pytest.raises(NoValidCombination, match="lower < upper"):
        rsi.combinations()


def test_huge_ranges_are_sized_not_expanded_and_name_the_cap() -> None:
    cap = get_settings().backtest_max_axis_values
    started = time.thread_time()
    with pytest.raises(
        GridTooLarge,
        match=rf"grid axis 'fast' \('1:4000000'\) has 4000000 values, more than "
        rf"BACKTEST_MAX_AXIS_VALUES={cap}",
    ):
        StrategySpec(strategy="sma_cross", grid={"fast": "1:4000000", "slow": [300]})
    with pytest.raises(GridTooLarge, match="has 1000000000000001 values"):
        StrategySpec(strategy="sma_cross", grid={"fast": "0:1e15"})
    with pytest.raises(GridTooLarge, match="values, more than BACKTEST_MAX_AXIS_VALUES"):
        StrategySpec(strategy="bollinger_reversion", grid={"k": "0:1:1e-999"})
    assert time.thread_time() - started < FAST


def test_the_whole_grid_is_capped_before_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    size = get_settings().backtest_max_grid_size
    with pytest.raises(
        GridTooLarge,
        match=rf"25000000 combinations before constraints \(fast 5000 x slow 5000\), "
        rf"more than BACKTEST_MAX_GRID_SIZE={size}",
    ):
        StrategySpec(strategy="sma_cross", grid={"fast": "1:5000", "slow": "2:5001"})
    monkeypatch.setenv("BACKTEST_MAX_AXIS_VALUES", "3")
    monkeypatch.setenv("BACKTEST_MAX_GRID_SIZE", "6")
    get_settings.cache_clear()
    assert StrategySpec(strategy="sma_cross", grid={"fast": "1:3", "slow": [5, 6]}).grid_size() == 6
    with pytest.raises(GridTooLarge, match="BACKTEST_MAX_AXIS_VALUES=3"):
        StrategySpec(strategy="sma_cross", grid={"fast": [1, 2, 3, 4]})
    with pytest.raises(GridTooLarge, match=r"9 combinations .* BACKTEST_MAX_GRID_SIZE=6"):
        StrategySpec(strategy="sma_cross", grid={"fast": "1:3", "slow": "4:6"})


def test_builtins_are_registered() -> None:
    assert set(BUILT_INS) <= set(strategy_names())


# Random axis texts: numbers (some malformed, huge or not finite) joined as ranges or lists.
_numbers = st.one_of(
    st.integers(-50, 50).map(str),
    st.decimals(-100, 100, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.integers(-400, 400).map(lambda e: f"1e{e}"),
    st.text(alphabet="0123456789.eE+-naNIfty ", min_size=1, max_size=12),
    st.sampled_from(["NaN", "Infinity", "-inf", "1e450000", "9" * 60, ""]),
)
_axes = st.one_of(
    _numbers,
    st.tuples(_numbers, _numbers).map(":".join),
    st.tuples(_numbers, _numbers, _numbers).map(":".join),
    st.lists(_numbers, min_size=1, max_size=5).map(",".join),
)
LIMITS = GridLimits(max_axis_values=2_000, max_grid_size=10**6)


@settings(max_examples=400, deadline=None)
@given(text=_axes)
def test_random_axes_are_refused_fast_or_sized_exactly(text: str) -> None:
    """Every axis text is refused within FAST seconds, or expands to exactly the size its
    arithmetic announced (and a range's values are its arithmetic progression)."""
    started = time.thread_time()
    try:
        size = axis_size(text)
    except DomainError:
        assert time.thread_time() - started < FAST
        return
    if size > LIMITS.max_axis_values:
        with pytest.raises(GridTooLarge):
            parse_axis(text, limits=LIMITS)
        assert time.thread_time() - started < FAST
        return
    values = parse_axis(text, limits=LIMITS)
    assert len(values) == size
    if ":" in text and len(values) > 1:
        steps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
        assert len(steps) == 1
        assert steps.pop() > 0


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["5:50:5", "1:4000000", "1e450000", "NaN:5", "2.5", "0:1:1e-999"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
_names = st.sampled_from([*sorted(strategy_names()), "nope", ""]) | st.text(max_size=70)
_param_names = st.sampled_from(["fast", "slow", "signal", "n", "k", "lower", "upper", "entry", "x"])


@settings(max_examples=300, deadline=None)
@given(
    strategy=_names | _json,
    grid=st.dictionaries(_param_names, _json, max_size=3) | _json,
    params=st.dictionaries(_param_names, _json, max_size=3) | _json,
)
def test_arbitrary_json_specs_end_in_a_spec_or_a_clear_error(
    strategy: Any, grid: Any, params: Any
) -> None:
    """Any JSON in any field: a spec (whose combinations are then computable or a clear
    error), or an `InvalidInput` / pydantic `ValidationError` (both 422s), quickly."""
    from pydantic import ValidationError

    started = time.thread_time()
    try:
        spec = StrategySpec.model_validate({"strategy": strategy, "grid": grid, "params": params})
        spec.combinations()
    except (InvalidInput, ValidationError):
        pass
    assert time.thread_time() - started < 0.5
