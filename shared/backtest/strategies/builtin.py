"""Built-in strategies (plans only): SMA/EMA cross, RSI and Bollinger reversion, Donchian
breakout, MACD. `shared.backtest.strategies.registry` lists them in the catalogue."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np

from shared.backtest import indicators
from shared.backtest.bars import BarsFrame
from shared.backtest.kernel import (
    RULE_BANDS,
    RULE_BREAKOUT,
    RULE_CROSS,
    RULE_CROSS_PREFIX,
    RULE_CROSS_STICKY,
    RULE_CROSS_STICKY_PREFIX,
    RULE_MACD,
    RULE_THRESHOLD,
    prefix_sums,
)
from shared.backtest.strategies.base import Combo, KernelPlan, Strategy
from shared.backtest.strategies.params import MAX_WINDOW, Param, Relation


def _window(name: str, default: int, low: int = 1, doc: str = "") -> Param:
    return Param(name, "int", default, ge=low, le=MAX_WINDOW, doc=doc)


LINES_BUDGET_BYTES = 64 * 2**20
"""Above this, prefix-summed averages are read from one prefix-sum row instead of a row per
window (same bits; rows are faster while they fit in cache, the single row bounds memory)."""


class _Lines:
    """Distinct indicator lines keyed by what they are, each computed once, straight into
    one (lines x bars) array."""

    def __init__(self, n_bars: int) -> None:
        self.n_bars = n_bars
        self.keys: dict[tuple[object, ...], int] = {}
        self.makers: list[Callable[[], np.ndarray]] = []

    def row(self, key: tuple[object, ...], compute: Callable[[], np.ndarray]) -> int:
        index = self.keys.get(key)
        if index is None:
            index = self.keys[key] = len(self.makers)
            self.makers.append(compute)
        return index

    def array(self) -> np.ndarray:
        out = np.empty((len(self.makers), self.n_bars), dtype=np.float64)
        for k, make in enumerate(self.makers):
            out[k] = make()
        return out


def _plan(
    code: int,
    lines: _Lines,
    ia: list[list[int]] | np.ndarray,
    fa: list[list[float]] | np.ndarray,
    warm: list[int] | np.ndarray,
) -> KernelPlan:
    warm_bar = np.asarray(warm, dtype=np.int64)
    return KernelPlan(
        code=code,
        lines=lines.array(),
        ia=np.asarray(ia, dtype=np.int64).reshape(len(ia), -1),
        fa=np.asarray(fa, dtype=np.float64).reshape(len(fa), -1),
        first_bar=warm_bar + 1,
        warm_bar=warm_bar,
    )


class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one, short/flat when below.

    As backtesting.py's SmaCross: on each cross, close the position and open the other
    way (`position.close(); buy()`). Options: `ma` = `rolling` (pandas rolling mean,
    backtesting.py's SMA) or `prefix` (cumulative-sum differences, vectorbt's MA);
    `cross` = `strict` (backtesting.py's `crossover`) or `sticky` (vectorbt's
    `crossed_above`: a touch counts as being below; an entry while in position is ignored).
    """

    name = "sma_cross"
    parameters = (_window("fast", 10, doc="fast average"), _window("slow", 20, doc="slow average"))
    relations = (Relation("fast", "<", "slow"),)
    window_params = ("slow",)
    bars_needed_rule = "max(fast, slow) + 1"
    options = {"ma": ("rolling", "prefix"), "cross": ("strict", "sticky")}
    description = "Fast/slow simple moving average crossover."

    def warmup(self, params: Combo) -> int:
        return int(max(params["fast"], params["slow"])) - 1

    def line(self, bars: BarsFrame, n: int, options: Mapping[str, str]) -> np.ndarray:
        return indicators.sma(bars.close, n, options.get("ma", "rolling"))

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        fast = np.fromiter((c["fast"] for c in combos), np.int64, len(combos))
        slow = np.fromiter((c["slow"] for c in combos), np.int64, len(combos))
        warm = np.maximum(fast, slow) - 1  # = self.warmup, vectorised
        sticky = options.get("cross") == "sticky"
        lines = _Lines(len(bars))
        windows = np.unique(np.concatenate([fast, slow]))
        if options.get("ma") == "prefix" and windows.size * len(bars) * 8 > LINES_BUDGET_BYTES:
            # one prefix-sum row serves every window: memory O(bars + combinations)
            lines.row(("sums",), partial(prefix_sums, bars.close))
            code = RULE_CROSS_STICKY_PREFIX if sticky else RULE_CROSS_PREFIX
            ia = np.stack([fast, slow], axis=1)
            return _plan(code, lines, ia, np.zeros((len(combos), 1)), warm)
        for w in windows:
            lines.row(("ma", int(w)), partial(self.line, bars, int(w), options))
        ia = np.stack([np.searchsorted(windows, fast), np.searchsorted(windows, slow)], axis=1)
        code = RULE_CROSS_STICKY if sticky else RULE_CROSS
        return _plan(code, lines, ia, np.zeros((len(combos), 1)), warm)


class EmaCross(SmaCross):
    """Long when the fast EMA crosses above the slow one, short/flat when below (EMAs seeded
    with the first close, alpha 2/(n+1), the first n-1 bars not used)."""

    name = "ema_cross"
    parameters = (_window("fast", 12, doc="fast EMA"), _window("slow", 26, doc="slow EMA"))
    options = {"cross": ("strict", "sticky")}
    description = "Fast/slow exponential moving average crossover."

    def line(self, bars: BarsFrame, n: int, options: Mapping[str, str]) -> np.ndarray:
        return indicators.ema(bars.close, n)


class Macd(Strategy):
    """Long when the MACD line (EMA fast - EMA slow) crosses above its signal EMA, short/flat
    when it crosses below."""

    name = "macd"
    parameters = (
        _window("fast", 12, doc="fast EMA"),
        _window("slow", 26, doc="slow EMA"),
        _window("signal", 9, doc="signal EMA of the MACD line"),
    )
    relations = (Relation("fast", "<", "slow"),)
    window_params = ("slow", "signal")
    bars_needed_rule = "slow + signal"
    description = "MACD line crossing its signal line."

    def warmup(self, params: Combo) -> int:
        return int(params["slow"]) - 1 + int(params["signal"]) - 1

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        lines = _Lines(len(bars))
        ia, fa, warm = [], [], []
        for c in combos:
            fast, slow, signal = int(c["fast"]), int(c["slow"]), int(c["signal"])
            f = lines.row(("ema", fast), partial(indicators.ema, bars.close, fast))
            s = lines.row(("ema", slow), partial(indicators.ema, bars.close, slow))
            ia.append([f, s])
            fa.append([2.0 / (signal + 1.0)])
            warm.append(self.warmup(c))
        return _plan(RULE_MACD, lines, ia, fa, warm)


class RsiReversion(Strategy):
    """Long when RSI(n) crosses below `lower`, short/flat when it crosses above `upper`."""

    name = "rsi_reversion"
    parameters = (
        _window("n", 14, low=2, doc="RSI window"),
        Param("lower", "float", 30, ge=0, le=100, doc="buy when RSI crosses below"),
        Param("upper", "float", 70, ge=0, le=100, doc="sell when RSI crosses above"),
    )
    relations = (Relation("lower", "<", "upper"),)
    window_params = ("n",)
    bars_needed_rule = "n + 2"
    description = "RSI mean reversion between two thresholds."

    def warmup(self, params: Combo) -> int:
        return int(params["n"])

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        lines = _Lines(len(bars))
        ia, fa, warm = [], [], []
        for c in combos:
            n = int(c["n"])
            ia.append([lines.row(("rsi", n), partial(indicators.rsi, bars.close, n))])
            fa.append([float(c["lower"]), float(c["upper"])])
            warm.append(self.warmup(c))
        return _plan(RULE_THRESHOLD, lines, ia, fa, warm)


class BollingerReversion(Strategy):
    """Long when the close crosses below SMA(n) - k*std(n), short/flat when it crosses
    above SMA(n) + k*std(n) (population std)."""

    name = "bollinger_reversion"
    parameters = (
        _window("n", 20, low=2, doc="SMA and standard deviation window"),
        Param("k", "float", 2.0, ge=0, le=100, doc="band width in standard deviations"),
    )
    window_params = ("n",)
    bars_needed_rule = "n + 1"
    description = "Bollinger band mean reversion."

    def warmup(self, params: Combo) -> int:
        return int(params["n"]) - 1

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        lines = _Lines(len(bars))
        ia, fa, warm = [], [], []
        for c in combos:
            n = int(c["n"])
            mid = lines.row(("sma", n), partial(indicators.sma, bars.close, n))
            sd = lines.row(("std", n), partial(indicators.rolling_std, bars.close, n))
            ia.append([mid, sd])
            fa.append([float(c["k"])])
            warm.append(self.warmup(c))
        return _plan(RULE_BANDS, lines, ia, fa, warm)


class DonchianBreakout(Strategy):
    """Long when the close breaks above the highest high of the previous `entry` bars,
    short/flat when it breaks below the lowest low of the previous `exit` bars."""

    name = "donchian_breakout"
    parameters = (
        _window("entry", 20, doc="bars of the high to break"),
        _window("exit", 10, doc="bars of the low to break"),
    )
    window_params = ("entry", "exit")
    bars_needed_rule = "max(entry, exit) + 2"
    description = "Donchian channel breakout."

    def warmup(self, params: Combo) -> int:
        return int(max(params["entry"], params["exit"]))

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        lines = _Lines(len(bars))
        ia, warm = [], []
        for c in combos:
            up, down = int(c["entry"]), int(c["exit"])
            hi = lines.row(("hh", up), partial(indicators.highest_before, bars.high, up))
            lo = lines.row(("ll", down), partial(indicators.lowest_before, bars.low, down))
            ia.append([hi, lo])
            warm.append(self.warmup(c))
        return _plan(RULE_BREAKOUT, lines, ia, [[0.0]] * len(combos), warm)
