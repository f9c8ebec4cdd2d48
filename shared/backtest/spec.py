"""`StrategySpec`: a strategy named by registry key plus its parameter grid, as JSON or YAML."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import InvalidInput

ParamValue = int | float
GridAxis = list[ParamValue]


def _number(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"grid value {text!r} is not a number") from exc


def _as_param(value: Decimal) -> ParamValue:
    return int(value) if value == value.to_integral_value() else float(value)


def parse_axis(text: str | Sequence[ParamValue] | ParamValue) -> GridAxis:
    """One grid axis: `5:50:5` (inclusive start:stop:step), `5,10,20` or a single value."""
    if isinstance(text, bool):
        raise InvalidInput("grid values must be numbers")
    if isinstance(text, int | float):
        return [text]
    if not isinstance(text, str):
        return [_as_param(_number(str(v))) if isinstance(v, str) else v for v in text]
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise InvalidInput(f"grid range {text!r} must be start:stop or start:stop:step")
        start, stop = _number(parts[0]), _number(parts[1])
        step = _number(parts[2]) if len(parts) == 3 else Decimal(1)
        if step <= 0:
            raise InvalidInput(f"grid range {text!r} needs a positive step")
        values: GridAxis = []
        value = start
        while value <= stop:
            values.append(_as_param(value))
            value += step
        return values
    return [_as_param(_number(part)) for part in text.split(",") if part.strip()]


def parse_grid_args(args: Sequence[str]) -> dict[str, GridAxis]:
    """CLI grid syntax: `["fast=5:50:5", "slow=20:200:10"]` -> {"fast": [...], "slow": [...]}."""
    grid: dict[str, GridAxis] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"grid argument {arg!r} must look like name=start:stop:step")
        grid[name.strip()] = parse_axis(value)
    return grid


class StrategySpec(BaseModel):
    """A strategy from the registry and the grid of its parameters.

    `grid` maps each parameter to its values (a list, or the text `start:stop:step`
    inclusive, or `a,b,c`); `params` fixes parameters that are not swept. Parameters that
    appear in neither take the strategy's defaults. Combinations are the cartesian
    product of the axes in the strategy's parameter order, minus those the strategy's
    constraint rejects (for example `fast < slow`); their order is the combination index
    that chunks slice.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(description="Registry name, e.g. 'sma_cross'.")
    grid: dict[str, GridAxis] = Field(default_factory=dict, description="Swept parameters.")
    params: dict[str, ParamValue] = Field(default_factory=dict, description="Fixed parameters.")
    options: dict[str, str] = Field(
        default_factory=dict,
        description="Non-numeric choices of the strategy, e.g. sma_cross {'ma': 'prefix'}.",
    )

    @field_validator("grid", mode="before")
    @classmethod
    def _parse_grid(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): parse_axis(v) for k, v in value.items()}
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return parse_grid_args(value)
        return value

    @classmethod
    def from_json(cls, text: str | bytes) -> StrategySpec:
        return cls.model_validate(json.loads(text))

    @classmethod
    def from_yaml(cls, text: str | bytes) -> StrategySpec:
        return cls.model_validate(yaml.safe_load(text))

    def to_json(self) -> str:
        return self.model_dump_json()

    def axes(self) -> dict[str, GridAxis]:
        """Every parameter of the strategy with its values (fixed and default ones as 1-lists)."""
        from shared.backtest.strategies import get_strategy

        return get_strategy(self.strategy).axes(self)

    def combinations(self) -> list[dict[str, ParamValue]]:
        """All valid combinations, in combination-index order (shared dicts: do not mutate)."""
        return list(_combinations(self.model_dump_json()))

    def n_combinations(self) -> int:
        return len(_combinations(self.model_dump_json()))


@lru_cache(maxsize=32)
def _combinations(spec_json: str) -> tuple[dict[str, ParamValue], ...]:
    from shared.backtest.strategies import get_strategy

    spec = StrategySpec.model_validate_json(spec_json)
    return tuple(get_strategy(spec.strategy).combinations(spec))


def product(axes: Mapping[str, GridAxis]) -> Iterator[dict[str, ParamValue]]:
    names = list(axes)
    for values in itertools.product(*(axes[n] for n in names)):
        yield dict(zip(names, values, strict=True))
