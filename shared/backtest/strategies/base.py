"""`Strategy`: parameters, constraint and signals of a strategy; the registry of them by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

from shared.backtest.spec import GridAxis, ParamValue, StrategySpec, product
from shared.errors import InvalidInput

if TYPE_CHECKING:
    from shared.backtest.bars import BarsFrame
    from shared.backtest.execution import ExecutionSettings
    from shared.backtest.results import BacktestResult

Combo = dict[str, ParamValue]


class Strategy:
    """Base of every strategy. Subclass it, set `name` and `defaults`, implement `signals`,
    and decorate with `@register`; it is then usable by name in a `StrategySpec`.

    `signals(bars, params)` returns an int8 array, one entry per bar, read at the bar's
    close: +1 = be long from the next fill, -1 = be short (long_short) or flat (long_only),
    0 = keep the position. Built-ins override `run_metrics` with a fused numba kernel; a
    registered class gets the generic path (its `signals` then the shared execution kernel).
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, ParamValue]] = {}
    description: ClassVar[str] = ""

    def valid(self, params: Combo) -> bool:
        """The grid constraint (e.g. fast < slow); invalid combinations are skipped."""
        return True

    def signals(self, bars: BarsFrame, params: Combo) -> np.ndarray:
        raise NotImplementedError

    def warmup(self, params: Combo) -> int:
        """Bars before the first possible signal (for buy-and-hold's first bar)."""
        return 0

    def axes(self, spec: StrategySpec) -> dict[str, GridAxis]:
        unknown = (set(spec.grid) | set(spec.params)) - set(self.defaults)
        if unknown:
            raise InvalidInput(
                f"strategy {self.name!r} has no parameter {', '.join(sorted(unknown))}; "
                f"its parameters are {', '.join(self.defaults)}"
            )
        both = set(spec.grid) & set(spec.params)
        if both:
            raise InvalidInput(f"parameter(s) {', '.join(sorted(both))} both fixed and swept")
        axes: dict[str, GridAxis] = {}
        for pname, default in self.defaults.items():
            if pname in spec.grid:
                if not spec.grid[pname]:
                    raise InvalidInput(f"grid axis {pname!r} is empty")
                axes[pname] = list(spec.grid[pname])
            else:
                axes[pname] = [spec.params.get(pname, default)]
        return axes

    def combinations(self, spec: StrategySpec) -> list[Combo]:
        return [c for c in product(self.axes(spec)) if self.valid(c)]

    def run_metrics(
        self, bars: BarsFrame, combos: Sequence[Combo], execution: ExecutionSettings
    ) -> dict[str, np.ndarray]:
        """Metrics of each combination (see `shared.backtest.metrics.METRICS`)."""
        from shared.backtest.kernel import simulate_signals_metrics

        return simulate_signals_metrics(
            bars,
            [self.signals(bars, c) for c in combos],
            execution,
            [self.warmup(c) for c in combos],
        )

    def run_single(
        self, bars: BarsFrame, params: Combo, execution: ExecutionSettings
    ) -> BacktestResult:
        """One combination in detail: equity curve, trade log and metrics."""
        from shared.backtest.results import simulate_detailed

        return simulate_detailed(
            bars, self.signals(bars, params), execution, self.warmup(params), params
        )


_REGISTRY: dict[str, Strategy] = {}
S = TypeVar("S", bound=type[Strategy])


def register(cls: S) -> S:
    """Class decorator: make the strategy usable by its `name` in a `StrategySpec`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name`")
    _REGISTRY[cls.name] = cls()
    return cls


def get_strategy(name: str) -> Strategy:
    import shared.backtest.strategies.builtin  # noqa: F401

    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInput(
            f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def strategy_names() -> list[str]:
    import shared.backtest.strategies.builtin  # noqa: F401

    return sorted(_REGISTRY)


SignalFn = Callable[["BarsFrame", Combo], np.ndarray]
