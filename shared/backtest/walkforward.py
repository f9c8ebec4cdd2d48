"""Walk-forward: rolling in-sample optimisation windows, each followed by an out-of-sample test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.backtest.bars import BarsFrame
    from shared.backtest.execution import ExecutionSettings
    from shared.backtest.spec import StrategySpec
    from shared.backtest.sweep import SweepResult


@dataclass(frozen=True)
class WalkForwardWindow:
    """Bars [train_start, train_stop) optimise; bars [test_start, test_stop) evaluate."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    def to_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "train_start": self.train_start,
            "train_stop": self.train_stop,
            "test_start": self.test_start,
            "test_stop": self.test_stop,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalkForwardWindow:
        return cls(**{k: int(data[k]) for k in cls.__dataclass_fields__})


@dataclass(eq=False)
class WindowResult:
    """The in-sample winner of one window and its out-of-sample metrics."""

    window: WalkForwardWindow
    params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "params": self.params,
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
        }


@dataclass(eq=False)
class WalkForwardResult:
    """Every window's result plus the out-of-sample metrics of the stitched test periods."""

    windows: list[WindowResult]
    out_of_sample: dict[str, float]


def plan_walk_forward(
    n_bars: int,
    *,
    train_bars: int,
    test_bars: int,
    step_bars: int | None = None,
    anchored: bool = False,
) -> list[WalkForwardWindow]:
    """Windows of `train_bars` in-sample then `test_bars` out-of-sample, stepping by
    `step_bars` (default `test_bars`, so test periods tile without overlap); `anchored`
    keeps every training window starting at bar 0."""
    raise NotImplementedError


def evaluate_window(
    bars: BarsFrame,
    spec: StrategySpec,
    execution: ExecutionSettings,
    window: WalkForwardWindow,
    in_sample: SweepResult,
    metric: str = "sharpe_ratio",
) -> WindowResult:
    """Pick the in-sample best by `metric` and run it on the window's test bars (indicators
    warm up on the bars before `test_start`; trading and metrics start at `test_start`)."""
    raise NotImplementedError


def walk_forward(
    bars: BarsFrame,
    spec: StrategySpec,
    execution: ExecutionSettings,
    windows: list[WalkForwardWindow],
    metric: str = "sharpe_ratio",
) -> WalkForwardResult:
    """Every window in this process: in-sample sweep, then out-of-sample evaluation."""
    raise NotImplementedError
