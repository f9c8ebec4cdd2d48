"""`Strategy`: what a strategy declares (parameters, relations, options) and plans (the
indicator lines and signal rule the kernel runs, `KernelPlan`). A strategy never runs itself:
`shared.backtest.simulation` runs plans, `shared.backtest.strategies.registry` names them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from shared.backtest.bars import BarsFrame
from shared.backtest.kernel import RULE_SIGNALS
from shared.backtest.strategies.grid import Combo, Grid
from shared.backtest.strategies.params import Declaration, Param, Relation
from shared.backtest.values import GridAxis, ParamValue
from shared.errors import InvalidInput, NotEnoughBars, NoValidCombination


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


class GridRequest(Protocol):
    """What a strategy reads of a `StrategySpec` to enumerate its combinations (the spec
    knows the strategies, not the other way round)."""

    @property
    def grid(self) -> Mapping[str, GridAxis]: ...

    @property
    def params(self) -> Mapping[str, ParamValue]: ...

    @property
    def options(self) -> Mapping[str, str]: ...


class Strategy:
    """Base of every strategy. Subclass it, set `name` and declare `parameters` (and the
    `relations` between them), implement `signals`, and decorate with `@register`; it is
    then usable by name in a `StrategySpec`. A subclass that only sets `defaults` gets one
    unbounded parameter per default (int defaults make integer parameters).

    `signals(bars, params)` returns an int8 array, one entry per bar, read at the bar's
    close: +1 = be long from the next fill, -1 = be short (long_short) or flat (long_only),
    0 = keep the position. Built-ins override `plan` with indicator lines and a signal rule
    the kernel evaluates itself; a registered class gets the generic plan (its `signals`, one
    combination at a time). `shared.backtest.simulation` runs either through the kernel.
    """

    name: ClassVar[str] = ""
    parameters: ClassVar[tuple[Param, ...]] = ()
    """Each parameter once: kind (int/float), default, bounds. The one source of the rules."""
    relations: ClassVar[tuple[Relation, ...]] = ()
    """Relations every combination must meet (e.g. fast < slow); a grid skips the others."""
    window_params: ClassVar[tuple[str, ...]] = ()
    """The parameters that set the warm-up (named when a combination does not fit the bars)."""
    bars_needed_rule: ClassVar[str] = "2"
    """`bars_needed` as a formula of the parameters, for the README (a test evaluates it)."""
    defaults: ClassVar[Mapping[str, ParamValue]] = {}
    options: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Allowed values of each option; the first is the default."""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "parameters" in cls.__dict__:
            cls.defaults = {p.name: p.default for p in cls.parameters}

    def declaration(self) -> Declaration:
        """The parameter declaration every entry point validates against."""
        cached: Declaration | None = self.__dict__.get("_declaration")
        if cached is None:
            if self.parameters:
                cached = Declaration(self.name, self.parameters, self.relations)
            else:
                cached = Declaration.from_defaults(self.name, self.defaults)
            self.__dict__["_declaration"] = cached
        return cached

    def check(self, params: Mapping[str, object]) -> Combo:
        """One combination for a single run: unknown names, types, ranges and relations
        checked (`InvalidParameter` names the parameter and the rule); defaults filled in."""
        return self.declaration().check(params)

    def rules_row(self) -> tuple[Declaration, str]:
        return self.declaration(), self.bars_needed_rule

    def bars_needed(self, params: Combo) -> int:
        """Bars a combination needs: its warm-up, the first bar that can signal, and one
        more to act on it."""
        return self.warmup(params) + 2

    def most_demanding(self, combos: Sequence[Combo], warm: np.ndarray | None = None) -> Combo:
        """The first of `combos` with the longest warm-up (so the most bars needed); `warm`
        as in `check_fits`."""
        if warm is None:
            warm = np.fromiter(map(self.warmup, combos), np.int64, len(combos))
        return combos[int(np.argmax(warm))]

    def check_fits(
        self, bars: BarsFrame, combos: Sequence[Combo], warm: np.ndarray | None = None
    ) -> None:
        """`NotEnoughBars` naming the combination with the longest warm-up if it does not
        fit `bars`, e.g. "sma_cross slow=300 needs 301 bars, GOOG 2024-01-01..2024-03-01
        has 41". `warm`, when given, is each combination's `warmup` already computed (a
        plan's `warm_bar`), so a large batch costs one array maximum."""
        if not combos:
            return
        worst = self.most_demanding(combos, warm)
        needed = self.bars_needed(worst)
        if needed > len(bars):
            raise NotEnoughBars(not_enough_bars(self, worst, needed, bars))

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
        """The relations (e.g. fast < slow); a grid skips combinations that break one."""
        return self.declaration().holds(params)

    def signals(self, bars: BarsFrame, params: Combo) -> np.ndarray:
        raise NotImplementedError

    def warmup(self, params: Combo) -> int:
        """Bars before the first possible signal (for buy-and-hold's first bar)."""
        return 0

    def axes(self, spec: GridRequest) -> dict[str, GridAxis]:
        declared = self.declaration()
        declared.check_names([*spec.grid, *spec.params])
        both = set(spec.grid) & set(spec.params)
        if both:
            raise InvalidInput(f"parameter(s) {', '.join(sorted(both))} both fixed and swept")
        axes: dict[str, GridAxis] = {}
        for pname, default in self.defaults.items():
            if pname in spec.grid:
                if not spec.grid[pname]:
                    raise InvalidInput(f"grid axis {pname!r} is empty")
                axes[pname] = declared.check_values(pname, spec.grid[pname])
            else:
                value = spec.params.get(pname, default)
                axes[pname] = [declared.param(pname).check(self.name, value)]
        return axes

    def grid(self, spec: GridRequest) -> Grid:
        """The grid of `spec` (options and values checked): its axes in parameter order and
        the rule a combination must meet (the relations, or this class's own `valid`)."""
        self.resolve_options(spec.options)
        axes = self.axes(spec)
        if type(self).valid is Strategy.valid:
            return Grid(axes, self.declaration().relations)
        return Grid(axes, valid=self.valid)

    def count_combinations(self, spec: GridRequest) -> int:
        """How many combinations `combinations` would return, without building them (for a
        cap checked before the work; memory O(block), not O(grid))."""
        return self.grid(spec).count()

    def combinations(self, spec: GridRequest) -> list[Combo]:
        """The grid's combinations that meet the relations; `NoValidCombination` if none."""
        grid = self.grid(spec)
        found = grid.combinations()
        if not found:
            axes = grid.axes
            ranges = ", ".join(
                f"{n} {min(v)}..{max(v)}" if len(v) > 1 else f"{n}={v[0]}" for n, v in axes.items()
            )
            rules = ", ".join(str(r) for r in self.declaration().relations) or "its constraint"
            raise NoValidCombination(
                f"no combination of the {self.name} grid satisfies {rules} ({ranges}); "
                "change the ranges so that some combinations meet it"
            )
        return found

    def kernel_plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        """The plan of `combos` on `bars`: the built-in's own `plan`, else the generic one
        (each combination's `signals` as a line of `RULE_SIGNALS`). Refuses fewer than 2
        bars and a combination whose warm-up does not fit (`NotEnoughBars`)."""
        if len(bars) < 2:
            raise InvalidInput(f"a backtest needs at least 2 bars, got {len(bars)}")
        plan = self.plan(bars, combos, self.resolve_options(options))
        if plan is not None:
            self.check_fits(bars, combos, plan.warm_bar)
            return plan
        warm = np.fromiter(map(self.warmup, combos), np.int64, len(combos))
        self.check_fits(bars, combos, warm)
        lines = np.empty((len(combos), len(bars)), dtype=np.float64)
        for k, combo in enumerate(combos):
            lines[k] = np.asarray(self.signals(bars, combo), dtype=np.float64)
        return KernelPlan(
            RULE_SIGNALS,
            lines,
            np.arange(len(combos), dtype=np.int64).reshape(-1, 1),
            np.zeros((len(combos), 1)),
            warm,
            warm,
        )

    def kernel_plans(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> Iterator[KernelPlan]:
        """The plans of a sweep over `combos`: one for a built-in, one per combination for
        Python signals (so memory stays O(bars)). The options are checked now; each plan is
        made as it is consumed."""
        opts = self.resolve_options(options)
        python_signals = type(self).plan is Strategy.plan
        batches: list[Sequence[Combo]] = [[c] for c in combos] if python_signals else [combos]
        return (self.kernel_plan(bars, batch, opts) for batch in batches)


def not_enough_bars(strategy: Strategy, combo: Combo, needed: int, bars: BarsFrame) -> str:
    """The message of a combination whose warm-up does not fit `bars`."""
    names = [n for n in strategy.window_params if n in combo] or list(combo)
    shown = " ".join(f"{n}={combo[n]}" for n in names)
    return f"{strategy.name} {shown} needs {needed} bars, {describe_bars(bars)} has {len(bars)}"


def describe_bars(bars: BarsFrame) -> str:
    """`GOOG 2024-01-01..2024-03-01` (UTC dates of the first and last bar)."""
    span = ""
    if len(bars):
        first, last = (
            np.datetime64(int(t), "ns").astype("datetime64[D]") for t in (bars.ts[0], bars.ts[-1])
        )
        span = f" {first}..{last}"
    return f"{bars.symbol or 'the series'}{span}"
