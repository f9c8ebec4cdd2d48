"""`Strategy`: parameters, constraint and signals of a strategy; the registry of them by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

from shared.backtest.spec import GridAxis, ParamValue, StrategySpec, product
from shared.errors import InvalidInput

if TYPE_CHECKING:
    from shared.backtest.bars import BarsFrame
    from shared.backtest.execution import ExecutionSettings
    from shared.backtest.results import BacktestResult

Combo = dict[str, ParamValue]
NS_PER_DAY = 86_400_000_000_000


@dataclass(eq=False)
class KernelPlan:
    """What the compiled kernel needs for a batch of combinations of one strategy: the
    signal rule, the distinct indicator lines (each window once), and per combination the
    rows of its lines (`ia`), its float arguments (`fa`), its first tradable bar and the bar
    its indicators become valid (`warm_bar`, for buy-and-hold)."""

    code: int
    lines: np.ndarray
    ia: np.ndarray
    fa: np.ndarray
    first_bar: np.ndarray
    warm_bar: np.ndarray


def period_ends(ts: np.ndarray) -> np.ndarray:
    """True on the last bar of each UTC calendar day: returns are taken per day, as
    backtesting.py resamples equity to days (weekly/monthly bars: one bar per period)."""
    day = ts // NS_PER_DAY
    ends = np.empty(ts.shape[0], dtype=np.bool_)
    if ts.shape[0]:
        ends[:-1] = day[1:] != day[:-1]
        ends[-1] = True
    return ends


def period_counts(ends: np.ndarray) -> np.ndarray:
    """counts[j] = number of period ends among bars [0, j)."""
    counts = np.zeros(ends.shape[0] + 1, dtype=np.int64)
    np.cumsum(ends, out=counts[1:])
    return counts


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
    options: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Allowed values of each option; the first is the default."""
    description: ClassVar[str] = ""

    def resolve_options(self, given: Mapping[str, str]) -> dict[str, str]:
        unknown = set(given) - set(self.options)
        if unknown:
            raise InvalidInput(f"strategy {self.name!r} has no option {', '.join(sorted(unknown))}")
        resolved = {}
        for key, allowed in self.options.items():
            value = given.get(key, allowed[0])
            if value not in allowed:
                raise InvalidInput(f"option {key!r} must be one of {', '.join(allowed)}")
            resolved[key] = value
        return resolved

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan | None:
        """Built-ins return the kernel plan; None means: use `signals` per combination."""
        return None

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
        self.resolve_options(spec.options)
        return [c for c in product(self.axes(spec)) if self.valid(c)]

    def _plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        if len(bars) < 2:
            raise InvalidInput(f"a backtest needs at least 2 bars, got {len(bars)}")
        plan = self.plan(bars, combos, self.resolve_options(options))
        if plan is not None:
            return plan
        from shared.backtest.kernel import RULE_SIGNALS

        lines = np.empty((len(combos), len(bars)), dtype=np.float64)
        for k, combo in enumerate(combos):
            lines[k] = np.asarray(self.signals(bars, combo), dtype=np.float64)
        warm = np.array([self.warmup(c) for c in combos], dtype=np.int64)
        return KernelPlan(
            RULE_SIGNALS,
            lines,
            np.arange(len(combos), dtype=np.int64).reshape(-1, 1),
            np.zeros((len(combos), 1)),
            warm,
            warm,
        )

    def run_metrics(
        self,
        bars: BarsFrame,
        combos: Sequence[Combo],
        execution: ExecutionSettings,
        options: Mapping[str, str] | None = None,
        *,
        trade_start: int = 0,
    ) -> dict[str, np.ndarray]:
        """Metrics of each combination (see `shared.backtest.metrics.METRICS`)."""
        from shared.backtest.kernel import sweep_kernel
        from shared.backtest.metrics import METRICS

        if not combos:
            return {name: np.empty(0) for name in METRICS}
        opts = self.resolve_options(options or {})
        xv = execution.vector(bars.annual_periods())
        ends = bars.period_ends()
        counts = period_counts(ends)
        if type(self).plan is Strategy.plan:
            # Python signals: one combination at a time, so memory stays O(bars).
            plans: Iterator[KernelPlan] = (self._plan(bars, [c], opts) for c in combos)
        else:
            plans = iter([self._plan(bars, combos, opts)])
        tables = [
            sweep_kernel(
                p.code, bars.open, bars.high, bars.low, bars.close, ends, counts, bars.ts,
                p.lines, p.ia, p.fa, p.first_bar, p.warm_bar, trade_start, xv,
            )
            for p in plans
        ]  # fmt: skip
        table = tables[0] if len(tables) == 1 else np.vstack(tables)
        return {name: np.ascontiguousarray(table[:, k]) for k, name in enumerate(METRICS)}

    def run_single(
        self,
        bars: BarsFrame,
        params: Combo,
        execution: ExecutionSettings,
        options: Mapping[str, str] | None = None,
        *,
        trade_start: int = 0,
    ) -> BacktestResult:
        """One combination in detail: equity curve, trade log and metrics."""
        from shared.backtest.results import simulate_detailed

        plan = self._plan(bars, [params], options or {})
        return simulate_detailed(bars, plan, execution, params, trade_start=trade_start)


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
