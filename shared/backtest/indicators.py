"""Indicator lines, each computed once per window for all the combinations that use it.

Moving-average summation rule (it decides crossovers when two averages tie, which happens
on 2-decimal prices): `sma(..., method="rolling")`, the default, is pandas'
`Series.rolling(n).mean()` itself: a running window sum with Kahan-compensated adds and
removes (and the exact previous value when the window holds one repeated value). That is
what backtesting.py's `SMA` returns, so crossover ties resolve exactly as there.
`method="prefix"` is the prefix-sum difference (cumsum[i] - cumsum[i-n]) / n, bit-identical
to vectorbt's `MA`; its rounding drifts with the length of the series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numba import njit, types

from shared.backtest.kernel import frozen


def sma(values: np.ndarray, n: int, method: str = "rolling") -> np.ndarray:
    if method == "prefix":
        return _prefix_mean(frozen(values, np.float64), int(n))
    return pd.Series(values).rolling(n).mean().to_numpy(dtype=np.float64)


@njit(cache=True)
def _prefix_mean(values: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(values.shape[0], dtype=np.float64)
    sums = np.empty(values.shape[0], dtype=np.float64)
    total = 0.0
    for i in range(values.shape[0]):
        total = total + values[i]
        sums[i] = total
        if i < n - 1:
            out[i] = np.nan
        elif i < n:
            out[i] = total / (i + 1)
        else:
            out[i] = (total - sums[i - n]) / n
    return out


def ema(values: np.ndarray, n: int, *, mask_warmup: bool = True) -> np.ndarray:
    """Exponential average, alpha = 2/(n+1), seeded with the first value (pandas
    `ewm(span=n, adjust=False)`); the first n-1 bars are NaN when `mask_warmup`."""
    out = pd.Series(values).ewm(span=n, adjust=False).mean().to_numpy(np.float64, copy=True)
    if mask_warmup:
        out[: n - 1] = np.nan
    return out


def rsi(values: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RSI (smoothing alpha = 1/n); NaN for the first n bars."""
    delta = np.diff(values, prepend=np.nan)
    gain = pd.Series(np.clip(delta, 0, None)).ewm(alpha=1 / n, adjust=False).mean().to_numpy()
    loss = pd.Series(np.clip(-delta, 0, None)).ewm(alpha=1 / n, adjust=False).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(loss == 0, 100.0, 100.0 - 100.0 / (1.0 + gain / loss))
    out[:n] = np.nan
    return out.astype(np.float64)


def rolling_std(values: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation over n bars (Bollinger's convention)."""
    return pd.Series(values).rolling(n).std(ddof=0).to_numpy(dtype=np.float64)


def highest_before(values: np.ndarray, n: int) -> np.ndarray:
    """Highest value of the n bars before each bar (the bar itself excluded)."""
    return pd.Series(values).rolling(n).max().shift(1).to_numpy(dtype=np.float64)


def lowest_before(values: np.ndarray, n: int) -> np.ndarray:
    """Lowest value of the n bars before each bar (the bar itself excluded)."""
    return pd.Series(values).rolling(n).min().shift(1).to_numpy(dtype=np.float64)


def compiled_signatures() -> list[tuple[Any, tuple[Any, ...]]]:
    """(dispatcher, argument types) of this module's compiled code, as `sma` calls it."""
    return [(_prefix_mean, (types.Array(types.float64, 1, "C", readonly=True), types.int64))]
