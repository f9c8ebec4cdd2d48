"""backtesting.py 0.6.6 as the peer: the six built-in strategies written with its own API.

Indicators are computed here with pandas from their textbook definitions (not with
`shared.backtest.indicators`), the signal rules are backtesting.py-style `next()` code, and
every order, fill, stop, commission, ruin and metric is backtesting.py's own. A strategy may
signal from `first_bar` (the engine's warm-up + 1); a NaN-then-1 indicator declared through
`self.I` makes backtesting.py start there and measure buy-and-hold from the warm-up bar.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy

from shared.backtest import BacktestResult, BarsFrame

# The built-in strategies, each written again here for the peer.
BUILT_INS = (
    "sma_cross",
    "ema_cross",
    "macd",
    "rsi_reversion",
    "bollinger_reversion",
    "donchian_breakout",
)

# engine metric -> backtesting.py stats key
METRIC_PAIRS = {
    "final_equity": "Equity Final [$]",
    "equity_peak": "Equity Peak [$]",
    "total_return_pct": "Return [%]",
    "buy_hold_return_pct": "Buy & Hold Return [%]",
    "return_ann_pct": "Return (Ann.) [%]",
    "cagr_pct": "CAGR [%]",
    "volatility_ann_pct": "Volatility (Ann.) [%]",
    "sharpe_ratio": "Sharpe Ratio",
    "sortino_ratio": "Sortino Ratio",
    "calmar_ratio": "Calmar Ratio",
    "max_drawdown_pct": "Max. Drawdown [%]",
    "trades": "# Trades",
    "win_rate_pct": "Win Rate [%]",
    "best_trade_pct": "Best Trade [%]",
    "worst_trade_pct": "Worst Trade [%]",
    "avg_trade_pct": "Avg. Trade [%]",
    "profit_factor": "Profit Factor",
    "expectancy_pct": "Expectancy [%]",
    "sqn": "SQN",
    "exposure_pct": "Exposure Time [%]",
    "commissions": "Commissions [$]",
}
EQUITY_CURVE_METRICS = frozenset(
    {
        "equity_peak",
        "return_ann_pct",
        "volatility_ann_pct",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "max_drawdown_pct",
        "max_drawdown_duration_days",
    }
)
"""Metrics read from the equity curve (the rest come from the trades and the final equity)."""


def _ema(values: pd.Series, n: int) -> np.ndarray:
    out = values.ewm(span=n, adjust=False).mean().to_numpy(dtype=float, copy=True)
    out[: n - 1] = np.nan
    return out


def _rsi(close: pd.Series, n: int) -> np.ndarray:
    delta = close.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
    loss = (-delta).clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(loss == 0, 100.0, 100.0 - 100.0 / (1.0 + gain / loss))
    out[:n] = np.nan
    return out


def _cross_up(a: np.ndarray, b: np.ndarray, i: int) -> bool:
    return bool(a[i - 1] < b[i - 1] and a[i] > b[i])  # backtesting.lib.crossover


def signal_rule(strategy: str, frame: pd.DataFrame, params: dict[str, Any]):
    """(first_bar, rule) with rule(i) -> +-2 (close and re-open), +-1 (go that way), 0."""
    close = frame["Close"]
    c = close.to_numpy(dtype=float)
    if strategy in ("sma_cross", "ema_cross"):
        fast, slow = int(params["fast"]), int(params["slow"])
        if strategy == "sma_cross":
            a, b = (close.rolling(n).mean().to_numpy() for n in (fast, slow))
        else:
            a, b = _ema(close, fast), _ema(close, slow)

        def cross(i: int) -> int:
            return 2 if _cross_up(a, b, i) else -2 if _cross_up(b, a, i) else 0

        return max(fast, slow), cross
    if strategy == "macd":
        fast, slow, signal = int(params["fast"]), int(params["slow"]), int(params["signal"])
        line = _ema(close, fast) - _ema(close, slow)
        sig = pd.Series(line).ewm(span=signal, adjust=False).mean().to_numpy()

        def macd(i: int) -> int:
            return 2 if _cross_up(line, sig, i) else -2 if _cross_up(sig, line, i) else 0

        return max(slow - 1 + signal - 1 + 1, 1), macd
    if strategy == "rsi_reversion":
        n, lower, upper = int(params["n"]), float(params["lower"]), float(params["upper"])
        r = _rsi(close, n)

        def rsi(i: int) -> int:
            if r[i] < lower and r[i - 1] >= lower:
                return 1
            if r[i] > upper and r[i - 1] <= upper:
                return -1
            return 0

        return n + 1, rsi
    if strategy == "bollinger_reversion":
        n, k = int(params["n"]), float(params["k"])
        mid = close.rolling(n).mean().to_numpy()
        width = k * close.rolling(n).std(ddof=0).to_numpy()
        lo, hi = mid - width, mid + width

        def bands(i: int) -> int:
            if c[i] < lo[i] and c[i - 1] >= lo[i - 1]:
                return 1
            if c[i] > hi[i] and c[i - 1] <= hi[i - 1]:
                return -1
            return 0

        return n, bands
    if strategy == "donchian_breakout":
        up, down = int(params["entry"]), int(params["exit"])
        hh = frame["High"].rolling(up).max().shift(1).to_numpy()
        ll = frame["Low"].rolling(down).min().shift(1).to_numpy()

        def breakout(i: int) -> int:
            return 1 if c[i] > hh[i] else -1 if c[i] < ll[i] else 0

        return max(up, down) + 1, breakout
    raise ValueError(strategy)


@dataclass(frozen=True)
class Config:
    direction: str = "long_only"
    fill: str = "next_open"
    commission: float = 0.0
    commission_fixed: float = 0.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "fill": self.fill,
            "commission": self.commission,
            "commission_fixed": self.commission_fixed,
            "stop_loss_pct": self.stop_loss_pct,
            "take_profit_pct": self.take_profit_pct,
        }


def run_peer(
    frame: pd.DataFrame, strategy: str, params: dict[str, Any], config: Config
) -> pd.Series:
    """backtesting.py's stats of `strategy(params)` on `frame` under `config`."""
    first_bar, rule = signal_rule(strategy, frame, params)
    n = len(frame)
    opens = frame["Open"].to_numpy(dtype=float)
    closes = frame["Close"].to_numpy(dtype=float)
    long_short = config.direction == "long_short"
    sl = (config.stop_loss_pct or 0.0) / 100.0
    tp = (config.take_profit_pct or 0.0) / 100.0
    on_close = config.fill == "close"
    warm = np.ones(n)
    warm[: min(first_bar - 1, n)] = np.nan

    class Peer(Strategy):
        def init(self) -> None:
            self.warmup = self.I(lambda: warm, name="warmup")

        def _enter(self, want: int, i: int) -> None:
            order = self.buy() if want > 0 else self.sell()
            ref = closes[i] if on_close else (opens[i + 1] if i + 1 < n else math.nan)
            if (sl or tp) and not math.isnan(ref):
                # levels from the fill price, set past backtesting.py's check against the
                # last close (a next-open fill's price is the next open)
                levels = {}
                if sl:
                    levels["sl_price"] = ref * (1.0 - sl) if want > 0 else ref * (1.0 + sl)
                if tp:
                    levels["tp_price"] = ref * (1.0 + tp) if want > 0 else ref * (1.0 - tp)
                order._replace(**levels)

        def next(self) -> None:
            i = len(self.data) - 1
            if i < first_bar:
                return
            ev = rule(i)
            if ev == 0:
                return
            want = 1 if ev > 0 else -1
            if self.position:
                same = self.position.is_long == (want > 0)
                if same and abs(ev) == 1:
                    return
                self.position.close()
            if want > 0 or long_short:
                self._enter(want, i)

    commission: float | tuple[float, float] = config.commission
    if config.commission_fixed:
        commission = (config.commission_fixed, config.commission)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, Peer, cash=10_000, commission=commission, trade_on_close=on_close)
        return bt.run()


def differences(
    ours: BacktestResult, ref: pd.Series, *, skip: frozenset[str] = frozenset(), tol: float = 1e-9
) -> list[str]:
    """Every trade field and metric where the engine and backtesting.py differ by more than
    `tol` (relative, absolute near 0); NaN equals NaN."""
    out: list[str] = []
    mine, theirs = ours.trades, ref["_trades"]
    if len(mine) != len(theirs):
        return [f"trades {len(mine)} vs {len(theirs)}"]
    pairs = {
        "entry_bar": "EntryBar",
        "exit_bar": "ExitBar",
        "size": "Size",
        "entry_price": "EntryPrice",
        "exit_price": "ExitPrice",
        "pnl": "PnL",
        "return_pct": "ReturnPct",
        "commission": "Commission",
    }
    for col, peer_col in pairs.items():
        a = mine[col].to_numpy(dtype=float)
        b = theirs[peer_col].to_numpy(dtype=float)
        if peer_col == "ReturnPct":
            b = b * 100.0
        bad = ~np.isclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            out.append(f"trade {k} {col}: {a[k]!r} vs {b[k]!r}")
    for name, key in METRIC_PAIRS.items():
        if name in skip:
            continue
        theirs_value = float(ref.get(key, 0.0))  # no commissions: no 'Commissions [$]'
        if not _close(ours.metrics[name], theirs_value, tol):
            out.append(f"{name}: {ours.metrics[name]!r} vs {theirs_value!r}")
    if "max_drawdown_duration_days" not in skip:
        days = ref["Max. Drawdown Duration"]
        theirs_days = float(days / pd.Timedelta(days=1)) if not pd.isna(days) else 0.0
        if not _close(ours.metrics["max_drawdown_duration_days"], theirs_days, tol):
            out.append(f"max_drawdown_duration_days: {ours.metrics['max_drawdown_duration_days']}")
    return out


def _close(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def bars_frame(bars: BarsFrame) -> pd.DataFrame:
    return bars.to_frame()
