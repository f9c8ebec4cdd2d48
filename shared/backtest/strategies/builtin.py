"""Built-in strategies: SMA/EMA cross, RSI and Bollinger reversion, Donchian breakout, MACD."""

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
from shared.backtest.strategies.base import Combo, KernelPlan, Strategy, register

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


@register
class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one, short/flat when below.

    As backtesting.py's SmaCross: on each cross, close the position and open the other
    way (`position.close(); buy()`). Options: `ma` = `rolling` (pandas rolling mean,
    backtesting.py's SMA) or `prefix` (cumulative-sum differences, vectorbt's MA);
    `cross` = `strict` (backtesting.py's `crossover`) or `sticky` (vectorbt's
    `crossed_above`: a touch counts as being below; an entry while in position is ignored).
    """

    name = "sma_cross"
    defaults = {"fast": 10, "slow": 20}
    options = {"ma": ("rolling", "prefix"), "cross": ("strict", "sticky")}
    description = "Fast/slow simple moving average crossover."

    def valid(self, params: Combo) -> bool:
        return 1 <= params["fast"] < params["slow"]

    def line(self, bars: BarsFrame, n: int, options: Mapping[str, str]) -> np.ndarray:
        return indicators.sma(bars.close, n, options.get("ma", "rolling"))

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        fast = np.fromiter((c["fast"] for c in combos), np.int64, len(combos))
        slow = np.fromiter((c["slow"] for c in combos), np.int64, len(combos))
        warm = np.maximum(fast, slow) - 1
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


@register
class EmaCross(SmaCross):
    """Long when the fast EMA crosses above the slow one, short/flat when below (EMAs seeded
    with the first close, alpha 2/(n+1), the first n-1 bars not used)."""

    name = "ema_cross"
    defaults = {"fast": 12, "slow": 26}
    options = {"cross": ("strict", "sticky")}
    description = "Fast/slow exponential moving average crossover."

    def line(self, bars: BarsFrame, n: int, options: Mapping[str, str]) -> np.ndarray:
        return indicators.ema(bars.close, n)


@register
class Macd(Strategy):
    """Long when the MACD line (EMA fast - EMA slow) crosses above its signal EMA, short/flat
    when it crosses below."""

    name = "macd"
    defaults = {"fast": 12, "slow": 26, "signal": 9}
    description = "MACD line crossing its signal line."

    def valid(self, params: Combo) -> bool:
        return 1 <= params["fast"] < params["slow"] and params["signal"] >= 1

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
            warm.append(slow - 1 + signal - 1)
        return _plan(RULE_MACD, lines, ia, fa, warm)


@register
class RsiReversion(Strategy):
    """Long when RSI(n) crosses below `lower`, short/flat when it crosses above `upper`."""

    name = "rsi_reversion"
    defaults = {"n": 14, "lower": 30, "upper": 70}
    description = "RSI mean reversion between two thresholds."

    def valid(self, params: Combo) -> bool:
        return params["n"] >= 2 and 0 <= params["lower"] < params["upper"] <= 100

    def plan(
        self, bars: BarsFrame, combos: Sequence[Combo], options: Mapping[str, str]
    ) -> KernelPlan:
        lines = _Lines(len(bars))
        ia, fa, warm = [], [], []
        for c in combos:
            n = int(c["n"])
            ia.append([lines.row(("rsi", n), partial(indicators.rsi, bars.close, n))])
            fa.append([float(c["lower"]), float(c["upper"])])
            warm.append(n)
        return _plan(RULE_THRESHOLD, lines, ia, fa, warm)


@register
class BollingerReversion(Strategy):
    """Long when the close crosses below SMA(n) - k*std(n), short/flat when it crosses
    above SMA(n) + k*std(n) (population std)."""

    name = "bollinger_reversion"
    defaults = {"n": 20, "k": 2.0}
    description = "Bollinger band mean reversion."

    def valid(self, params: Combo) -> bool:
        return params["n"] >= 2 and params["k"] > 0

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
            warm.append(n - 1)
        return _plan(RULE_BANDS, lines, ia, fa, warm)


@register
class DonchianBreakout(Strategy):
    """Long when the close breaks above the highest high of the previous `entry` bars,
    short/flat when it breaks below the lowest low of the previous `exit` bars."""

    name = "donchian_breakout"
    defaults = {"entry": 20, "exit": 10}
    description = "Donchian channel breakout."

    def valid(self, params: Combo) -> bool:
        return params["entry"] >= 1 and params["exit"] >= 1

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
            warm.append(max(up, down))
        return _plan(RULE_BREAKOUT, lines, ia, [[0.0]] * len(combos), warm)
