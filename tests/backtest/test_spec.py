"""StrategySpec: grid syntax, JSON/YAML, validation with errors that name the fix."""

from __future__ import annotations

import pytest

from shared.backtest import StrategySpec, parse_axis, parse_grid_args, strategy_names
from shared.errors import InvalidInput


def test_grid_syntax() -> None:
    assert parse_axis("5:50:5") == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert parse_axis("1.5:2.5:0.5") == [1.5, 2.0, 2.5]
    assert parse_axis("3,7, 9") == [3, 7, 9]
    assert parse_axis("4:6") == [4, 5, 6]
    assert parse_grid_args(["fast=5:15:5", "slow=20"]) == {"fast": [5, 10, 15], "slow": [20]}
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


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"strategy": "nope"}, "unknown strategy 'nope'"),
        ({"strategy": "sma_cross", "grid": {"speed": [1]}}, "no parameter speed"),
        ({"strategy": "sma_cross", "grid": {"fast": []}}, "is empty"),
        ({"strategy": "sma_cross", "options": {"ma": "median"}}, "must be one of rolling"),
        ({"strategy": "sma_cross", "grid": {"fast": [50], "slow": [10]}}, None),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec: dict, message: str | None) -> None:
    parsed = StrategySpec.model_validate(spec)
    if message is None:
        assert parsed.n_combinations() == 0
        return
    with pytest.raises(InvalidInput, match=message):
        parsed.combinations()


def test_builtins_are_registered() -> None:
    assert {
        "sma_cross",
        "ema_cross",
        "macd",
        "rsi_reversion",
        "bollinger_reversion",
        "donchian_breakout",
    } <= set(strategy_names())
