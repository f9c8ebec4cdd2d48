"""The run's request (POST /api/backtests, the CLI, the benches) and its validation before a
run starts: what a 4xx should catch, checked once at the edge."""

from __future__ import annotations

from datetime import date
from typing import Any, get_args

from pydantic import Field, StrictInt, field_validator, model_validator

import shared.backtest.strategies.builtin  # noqa: F401  (the registry at start-up, not on a request)
from shared.api_model import ApiModel
from shared.backtest import ExecutionSettings, StrategySpec, get_strategy
from shared.backtest.metrics import METRIC_JSON_NAMES, metric_column
from shared.backtest.runs.data import bar_count, read_bars
from shared.backtest.spec import check_number
from shared.backtest.strategies.base import not_enough_bars
from shared.config import Settings, get_settings
from shared.errors import GridTooLarge, InvalidInput, NotEnoughBars
from shared.market.models import FIRST_DAY, LAST_DAY, Interval, check_day
from shared.market.symbols import distinct_symbols

MAX_WINDOW_BARS = 10_000_000


def _numeric_fields(model: type[ExecutionSettings]) -> frozenset[str]:
    """Fields of `model` that hold numbers (their JSON names and Python names)."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        kinds = {field.annotation, *get_args(field.annotation)}
        if kinds & {int, float} and bool not in kinds:
            names.update({name, field.alias or name})
    return frozenset(names)


_NUMERIC_EXECUTION_FIELDS = _numeric_fields(ExecutionSettings)


class WalkForwardRequest(ApiModel):
    """Rolling windows: optimise on `trainBars`, evaluate the winner on the next `testBars`."""

    train_bars: StrictInt = Field(
        ge=20, le=MAX_WINDOW_BARS, description="In-sample bars per window."
    )
    test_bars: StrictInt = Field(
        ge=5, le=MAX_WINDOW_BARS, description="Out-of-sample bars per window."
    )
    step_bars: StrictInt | None = Field(
        None, ge=1, le=MAX_WINDOW_BARS, description="Window step; defaults to testBars."
    )
    anchored: bool = Field(False, description="Every training window starts at the first bar.")


class BacktestRequest(ApiModel):
    """POST /api/backtests: what to sweep, on which bars, with which execution model."""

    symbols: list[str] = Field(min_length=1, max_length=20, description="Symbols to test.")
    interval: Interval = Field("1d", description="Bar interval in the lake.")
    start: date | None = Field(
        None, description=f"First day (inclusive), {FIRST_DAY}..{LAST_DAY}; default all bars."
    )
    end: date | None = Field(
        None, description=f"Last day (inclusive), {FIRST_DAY}..{LAST_DAY}; default all bars."
    )
    strategy: StrategySpec | None = Field(
        None, description="Strategy name, grid and fixed parameters (or name a saved one)."
    )
    strategy_id: str | None = Field(
        None, max_length=128, description="A saved strategy (see /api/strategies) to run."
    )
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    metric: str = Field(
        "sharpeRatio",
        description="Leaderboard metric, camelCase (`sharpeRatio`); the snake_case name "
        "(`sharpe_ratio`) is accepted too.",
    )
    top_n: StrictInt = Field(10, ge=1, le=100, description="Leaderboard size.")
    walk_forward: WalkForwardRequest | None = None
    strategy_version: StrictInt | None = Field(
        None, ge=1, le=10**9, description="Version of the saved strategy; default its latest."
    )

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        return distinct_symbols(value)

    @field_validator("start", "end")
    @classmethod
    def _day(cls, value: date | None) -> date | None:
        return None if value is None else check_day(value)

    @field_validator("execution", mode="before")
    @classmethod
    def _execution_numbers(cls, value: Any) -> Any:
        """Every number of `execution` a finite JSON number (no `true`, NaN or 1e309)."""
        if not isinstance(value, dict):
            return value
        checked = dict(value)
        for key, item in value.items():
            if key in _NUMERIC_EXECUTION_FIELDS and item is not None:
                checked[key] = check_number(item, f"execution.{key}")
        return checked

    @model_validator(mode="after")
    def _one_strategy(self) -> BacktestRequest:
        if self.strategy is None and self.strategy_id is None:
            raise ValueError("give either 'strategy' (a spec) or 'strategyId' (a saved one)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def spec(self) -> StrategySpec:
        """The strategy to run (resolved from `strategyId` before the run starts)."""
        if self.strategy is None:
            raise InvalidInput(f"strategy {self.strategy_id!r} was not resolved")
        return self.strategy

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return METRIC_JSON_NAMES[metric_column(value)]

    @property
    def metric_column(self) -> str:
        """The leaderboard metric's snake_case name, as the engine and Parquet columns use."""
        return metric_column(self.metric)


def validate_request(request: BacktestRequest, settings: Settings | None = None) -> int:
    """Check what a 4xx should catch before a run starts; returns the combination count.

    The spec's grid was sized and capped when it was parsed (`BACKTEST_MAX_AXIS_VALUES`,
    `BACKTEST_MAX_GRID_SIZE`) and its values checked against the strategy's declaration;
    here: an empty grid, no valid combination (`NoValidCombination`), more valid combinations
    times symbols than `BACKTEST_MAX_COMBINATIONS` (`GridTooLarge`), a range without bars,
    and a combination whose warm-up does not fit a symbol's bars or a walk-forward training
    window (`NotEnoughBars`). Every error is an `InvalidInput` naming the fix. Bars are
    counted from the lake's Parquet footers (`bar_count`); only an error reads them, to name
    their dates."""
    settings = settings or get_settings()
    spec = request.spec
    strategy = get_strategy(spec.strategy)
    if not spec.grid:
        raise InvalidInput(
            f"the grid is empty; sweep at least one parameter of {spec.strategy!r} "
            '(e.g. "grid": {"fast": "5:50:5"})'
        )
    if any(len(values) == 0 for values in spec.grid.values()):
        raise InvalidInput("the grid has an axis without values; give each parameter a value")
    valid = strategy.count_combinations(spec)  # counted on arrays: nothing built yet
    total = valid * len(request.symbols)
    if total > settings.backtest_max_combinations:
        cap = settings.backtest_max_combinations
        raise GridTooLarge(
            f"the grid has {total} combinations ({valid} valid x {len(request.symbols)} "
            f"symbol(s)), more than BACKTEST_MAX_COMBINATIONS={cap}; narrow the ranges or "
            "raise the setting"
        )
    combos = spec.combinations()  # NoValidCombination if none
    worst = strategy.most_demanding(combos)
    needed = strategy.bars_needed(worst)
    wf = request.walk_forward
    for symbol in request.symbols:
        count = bar_count(symbol, request.interval, request.start, request.end)
        if count == 0:
            raise InvalidInput(
                f"no {request.interval} bars for {symbol} in "
                f"{request.start or 'the beginning'}..{request.end or 'now'}; ingest them "
                "first or choose a range with data"
            )
        if wf is not None and wf.train_bars >= count:
            raise InvalidInput(
                f"{symbol} has {count} {request.interval} bars in the range, too few for one "
                f"walk-forward window of trainBars={wf.train_bars}; lower trainBars or widen "
                "the range"
            )
        if wf is not None and needed > wf.train_bars:
            bars = read_bars(symbol, request.interval, request.start, request.end)
            raise NotEnoughBars(
                f"{not_enough_bars(strategy, worst, needed, bars)}, and its walk-forward "
                f"training windows have trainBars={wf.train_bars}; raise trainBars or shorten "
                "the windows"
            )
        if needed > count:
            bars = read_bars(symbol, request.interval, request.start, request.end)
            raise NotEnoughBars(
                f"{not_enough_bars(strategy, worst, needed, bars)}; widen the range or shorten "
                "the windows"
            )
    return len(combos)
