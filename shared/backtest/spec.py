"""`StrategySpec`: a strategy named by registry key plus its parameter grid, as JSON or YAML.

Parsing is bounded before any work: a number is a short decimal (`shared.backtest.values`), a
range's size is computed from its arithmetic before it is expanded, and each axis and the
grid's whole product are capped (`BACKTEST_MAX_AXIS_VALUES`, `BACKTEST_MAX_GRID_SIZE`).
Values are then checked against the declaration of the strategy in the catalogue
(`shared.backtest.strategies.registry`); the spec itself is data and runs nothing."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from shared.backtest.strategies.registry import get_strategy
from shared.backtest.values import (
    MAX_NUMBER_CHARS,
    NUMBER_RULE,
    GridAxis,
    ParamValue,
    check_number,
    clip,
    exact,
    parse_number,
)
from shared.config import get_settings
from shared.errors import GridTooLarge, InvalidInput

MAX_GRID_PARAMS = 32
MAX_NAME_CHARS = 64
MAX_AXIS_CHARS = 4096
TRUSTED = {"trusted": True}
"""Validation context for specs read back from storage: parsed, not re-checked against caps
or rules that may have changed since they were accepted."""


@dataclass(frozen=True)
class GridLimits:
    """Caps on a grid before any expansion: values per axis, and the axes' whole product
    (before the strategy's relations remove combinations)."""

    max_axis_values: int
    max_grid_size: int


def grid_limits() -> GridLimits:
    """The caps from settings (`BACKTEST_MAX_AXIS_VALUES`, `BACKTEST_MAX_GRID_SIZE`)."""
    settings = get_settings()
    return GridLimits(settings.backtest_max_axis_values, settings.backtest_max_grid_size)


@dataclass(frozen=True)
class _Range:
    start: Fraction
    stop: Fraction
    step: Fraction

    @property
    def size(self) -> int:
        if self.stop < self.start:
            return 0
        return math.floor((self.stop - self.start) / self.step) + 1

    def values(self) -> GridAxis:
        """start, start + step, ... exactly: on integer numerators over one common
        denominator, integral values as ints, others rounded once to the nearest float
        (int / int is correctly rounded)."""
        d = math.lcm(self.start.denominator, self.step.denominator)
        a = self.start.numerator * (d // self.start.denominator)
        b = self.step.numerator * (d // self.step.denominator)
        if d == 1:
            return list(range(a, a + self.size * b, b))
        return [n // d if n % d == 0 else n / d for n in range(a, a + self.size * b, b)]


def _size(source: _Range | list[ParamValue]) -> int:
    return source.size if isinstance(source, _Range) else len(source)


def _axis_source(value: Any, where: str, limit: int | None = None) -> _Range | list[ParamValue]:
    """An axis before expansion: a range (sized by arithmetic) or a list of checked numbers
    (a list longer than `limit` is refused before its items are read)."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_AXIS_CHARS:
            raise InvalidInput(
                f"{where}: an axis text has at most {MAX_AXIS_CHARS} characters; send a list"
            )
        if ":" in text:
            parts = text.split(":")
            if len(parts) not in (2, 3):
                raise InvalidInput(
                    f"{where}: grid range {clip(text)} must be start:stop or start:stop:step"
                )
            start, stop = exact(parts[0], where), exact(parts[1], where)
            step = exact(parts[2], where) if len(parts) == 3 else Fraction(1)
            if step <= 0:
                raise InvalidInput(f"{where}: grid range {clip(text)} needs a positive step")
            return _Range(start, stop, step)
        return [parse_number(part, where) for part in text.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        if limit is not None:
            _cap_axis(where, value, len(value), limit)
        return [check_number(v, where) for v in value]
    return [check_number(value, where)]


def axis_size(value: Any, where: str = "grid axis") -> int:
    """How many values an axis has, computed without expanding it."""
    return _size(_axis_source(value, where))


def _cap_axis(where: str, text: Any, size: int, limit: int) -> None:
    if size > limit:
        shown = f" ({clip(text)})" if isinstance(text, str) else ""
        raise GridTooLarge(
            f"{where}{shown} has {size} values, more than BACKTEST_MAX_AXIS_VALUES={limit}; "
            "narrow the range, take a larger step or raise the setting"
        )


def parse_axis(value: Any, where: str = "grid axis", limits: GridLimits | None = None) -> GridAxis:
    """One grid axis: `5:50:5` (inclusive start:stop:step), `5,10,20`, a list or one value.
    A range is sized before it is expanded; above the axis cap it is refused."""
    limit = (limits or grid_limits()).max_axis_values
    source = _axis_source(value, where, limit)
    _cap_axis(where, value, _size(source), limit)
    return source.values() if isinstance(source, _Range) else list(source)


def parse_grid_args(args: Sequence[str]) -> dict[str, str]:
    """CLI grid syntax: `["fast=5:50:5", "slow=20:200:10"]` -> {"fast": "5:50:5", ...}
    (axes stay text: `StrategySpec` sizes and expands them)."""
    grid: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"grid argument {clip(arg)} must look like name=start:stop:step")
        grid[name.strip()] = value
    return grid


def parse_grid(grid: Any, limits: GridLimits | None = None) -> dict[str, GridAxis]:
    """A grid (mapping of axes, or CLI `name=...` strings) sized and capped, then expanded:
    every axis and the whole product are checked before any value list is built."""
    if isinstance(grid, list | tuple) and all(isinstance(v, str) for v in grid):
        grid = parse_grid_args(grid)
    if not isinstance(grid, Mapping):
        raise InvalidInput("grid must be an object mapping each parameter to its values")
    if len(grid) > MAX_GRID_PARAMS:
        raise InvalidInput(f"a grid has at most {MAX_GRID_PARAMS} parameters, got {len(grid)}")
    limits = limits or grid_limits()
    sources: dict[str, _Range | list[ParamValue]] = {}
    for key, value in grid.items():
        name = _name(key, "grid parameter")
        where = f"grid axis {name!r}"
        if value is None:
            raise InvalidInput(f"{where} is null; give a list, 'start:stop:step' or a number")
        sources[name] = source = _axis_source(value, where, limits.max_axis_values)
        _cap_axis(where, value, _size(source), limits.max_axis_values)
    size = math.prod(_size(s) for s in sources.values())
    if size > limits.max_grid_size:
        shape = " x ".join(f"{n} {_size(s)}" for n, s in sources.items())
        raise GridTooLarge(
            f"the grid has {size} combinations before constraints ({shape}), more than "
            f"BACKTEST_MAX_GRID_SIZE={limits.max_grid_size}; narrow the ranges or raise "
            "the setting"
        )
    return {n: s.values() if isinstance(s, _Range) else list(s) for n, s in sources.items()}


def _name(key: Any, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_NAME_CHARS or not key.isprintable():
        raise InvalidInput(
            f"{what} {clip(str(key))} is not a name of 1-{MAX_NAME_CHARS} printable characters"
        )
    return key


_NUMBER_TEXT = {"type": "string", "maxLength": MAX_NUMBER_CHARS, "description": NUMBER_RULE}
_NUMBER_SCHEMA = WithJsonSchema({"anyOf": [{"type": "number"}, _NUMBER_TEXT]}, mode="validation")
_AXIS_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "number"}, _NUMBER_TEXT]}},
            {"type": "string", "maxLength": MAX_AXIS_CHARS},
            {"type": "number"},
        ]
    },
    mode="validation",
)
"""What a client may send (the model holds the expanded list of numbers)."""


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader without YAML 1.1's sexagesimal numbers (`1:30` = 90), which
    YAML 1.2 dropped: such scalars stay strings, so a grid axis `5:50:5` reads as written."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    (
        "tag:yaml.org,2002:int",
        r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"""
        r"""|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
        "-+0123456789.",
    ),
):
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern, re.X), list(_first))


class StrategySpec(BaseModel):
    """A strategy from the registry and the grid of its parameters.

    `grid` maps each parameter to its values (a list, or the text `start:stop:step`
    inclusive, or `a,b,c`); `params` fixes parameters that are not swept. Parameters that
    appear in neither take the strategy's defaults. Every value is checked against the
    strategy's declaration (type and range; unknown names are errors) when the spec is
    built. Combinations are the cartesian product of the axes in the strategy's parameter
    order, minus those breaking a relation (for example `fast < slow`); their order is the
    combination index that chunks slice. A grid none of whose combinations is valid is an
    error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(max_length=MAX_NAME_CHARS, description="Registry name, e.g. 'sma_cross'.")
    grid: dict[str, Annotated[GridAxis, _AXIS_SCHEMA]] = Field(
        default_factory=dict,
        description="Swept parameters: a list, 'start:stop:step' (inclusive) or 'a,b,c'; "
        "sized before expansion and capped per axis (BACKTEST_MAX_AXIS_VALUES) and as a whole "
        "(BACKTEST_MAX_GRID_SIZE).",
    )
    params: dict[str, Annotated[ParamValue, _NUMBER_SCHEMA]] = Field(
        default_factory=dict, description="Fixed parameters."
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Non-numeric choices of the strategy, e.g. sma_cross {'ma': 'prefix'}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        trusted = bool(info.context and info.context.get("trusted"))
        data = dict(data)
        limits = GridLimits(10**9, 10**18) if trusted else None
        if "grid" in data:
            data["grid"] = parse_grid(data["grid"], limits)
        params = data.get("params")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidInput("params must be an object mapping parameters to numbers")
        if params is not None:
            if len(params) > MAX_GRID_PARAMS:
                raise InvalidInput(f"params has at most {MAX_GRID_PARAMS} entries")
            data["params"] = {
                _name(k, "parameter"): check_number(v, f"params.{k}") for k, v in params.items()
            }
        strategy = data.get("strategy")
        if isinstance(strategy, str) and len(strategy) <= MAX_NAME_CHARS and not trusted:
            declared = get_strategy(strategy).declaration()
            grid: dict[str, GridAxis] = data.get("grid") or {}
            fixed: dict[str, ParamValue] = data.get("params") or {}
            declared.check_names([*grid, *fixed])
            both = set(grid) & set(fixed)
            if both:
                raise InvalidInput(
                    f"parameter(s) {', '.join(sorted(both))} both fixed and swept; "
                    "give each in 'grid' or in 'params'"
                )
            data["grid"] = {n: declared.check_values(n, v) for n, v in grid.items()}
            data["params"] = {n: declared.param(n).check(strategy, v) for n, v in fixed.items()}
        return data

    @classmethod
    def from_json(cls, text: str | bytes) -> StrategySpec:
        return cls.model_validate(json.loads(text))

    @classmethod
    def from_yaml(cls, text: str | bytes) -> StrategySpec:
        """A spec written in YAML, read with YAML 1.2's plain scalars: `fast: 5:50:5` is the
        range "5:50:5", not YAML 1.1's base-60 integer 21005."""
        return cls.model_validate(yaml.load(text, Loader=_Yaml12Loader))

    def to_json(self) -> str:
        return self.model_dump_json()

    def axes(self) -> dict[str, GridAxis]:
        """Every parameter of the strategy with its values (fixed and default ones as 1-lists)."""
        return get_strategy(self.strategy).axes(self)

    def grid_size(self) -> int:
        """Combinations before the strategy's relations: the product of the axes' sizes."""
        return math.prod(len(v) for v in self.grid.values())

    def combinations(self) -> list[dict[str, ParamValue]]:
        """All valid combinations, in combination-index order (shared dicts: do not mutate).
        `NoValidCombination` if none meets the strategy's relations."""
        return list(_combinations(self.model_dump_json()))

    def n_combinations(self) -> int:
        return len(_combinations(self.model_dump_json()))


@lru_cache(maxsize=32)
def _combinations(spec_json: str) -> tuple[dict[str, ParamValue], ...]:
    spec = StrategySpec.model_validate_json(spec_json, context=TRUSTED)
    return tuple(get_strategy(spec.strategy).combinations(spec))
