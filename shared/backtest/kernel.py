"""The compiled simulation: one pass over the bars per combination, metrics accumulated on the way.

Every combination is simulated by `_run_one` alone (no state shared between combinations),
so results do not depend on which combinations run together, in which chunk or on which
thread: a chunked sweep is bit-identical to an unchunked one. `sweep_kernel` runs many
combinations over precomputed indicator lines (each window computed once per call) with
memory O(bars x lines + combinations), or O(bars + combinations) for prefix-summed averages
read from one prefix-sum row: never a bars x combinations matrix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange, types

from shared.backtest.execution import (
    FILL_CLOSE,
    N_EXEC_FIELDS,
    SIZING_ALL_CASH_UNITS,
    SIZING_FIXED_FRACTION,
    X_ANNUAL_PERIODS,
    X_CASH,
    X_COMM_FIXED,
    X_COMM_RATE,
    X_FILL,
    X_FRACTION,
    X_LONG_SHORT,
    X_RISK_FREE,
    X_SIZING,
    X_SLIPPAGE,
    X_STOP_LOSS,
    X_TAKE_PROFIT,
)
from shared.backtest.metrics import METRIC_INDEX as M
from shared.backtest.metrics import N_METRICS

_AVG_TRADE_PCT = M["avg_trade_pct"]
_BEST_TRADE_PCT = M["best_trade_pct"]
_BUY_HOLD_RETURN_PCT = M["buy_hold_return_pct"]
_CAGR_PCT = M["cagr_pct"]
_CALMAR_RATIO = M["calmar_ratio"]
_COMMISSIONS = M["commissions"]
_EQUITY_PEAK = M["equity_peak"]
_EXPECTANCY_PCT = M["expectancy_pct"]
_EXPOSURE_PCT = M["exposure_pct"]
_FINAL_EQUITY = M["final_equity"]
_MAX_DRAWDOWN_DURATION_BARS = M["max_drawdown_duration_bars"]
_MAX_DRAWDOWN_DURATION_DAYS = M["max_drawdown_duration_days"]
_MAX_DRAWDOWN_PCT = M["max_drawdown_pct"]
_PROBABILISTIC_SHARPE = M["probabilistic_sharpe"]
_PROFIT_FACTOR = M["profit_factor"]
_RETURN_ANN_PCT = M["return_ann_pct"]
_RUINED = M["ruined"]
_RUINED_BAR = M["ruined_bar"]
_SHARPE_RATIO = M["sharpe_ratio"]
_SORTINO_RATIO = M["sortino_ratio"]
_SQN = M["sqn"]
_TOTAL_RETURN_PCT = M["total_return_pct"]
_TRADES = M["trades"]
_VOLATILITY_ANN_PCT = M["volatility_ann_pct"]
_WIN_RATE_PCT = M["win_rate_pct"]
_WORST_TRADE_PCT = M["worst_trade_pct"]

# Signal rules (`code`). Lines are rows of `lines`; `ia`/`fa` are a combination's int/float args.
RULE_CROSS = 0  # ia0 crosses ia1, backtesting.py's `crossover`: a[i-1] < b[i-1] and a[i] > b[i]
RULE_CROSS_STICKY = 1  # vectorbt's crossed_above/below: a <= b (after any a < b), then a > b
RULE_MACD = 2  # (ia0 - ia1) crosses its own EMA (alpha fa0), strict like RULE_CROSS
RULE_THRESHOLD = 3  # line ia0 crosses below fa0 -> long; crosses above fa1 -> short/flat
RULE_BANDS = 4  # close crosses below ia0 - fa0*ia1 -> long; above ia0 + fa0*ia1 -> short/flat
RULE_BREAKOUT = 5  # close above line ia0 -> long; close below line ia1 -> short/flat
RULE_SIGNALS = 6  # line ia0 holds the signal itself (+1/-1/0)
# RULE_CROSS / RULE_CROSS_STICKY on simple averages taken from one prefix-sum row (lines[0])
# with windows ia0, ia1: memory O(bars) whatever the number of windows.
RULE_CROSS_PREFIX = 7
RULE_CROSS_STICKY_PREFIX = 8

# Trade log columns of the detailed run.
T_ENTRY_BAR, T_EXIT_BAR, T_SIZE, T_ENTRY_PRICE, T_EXIT_PRICE, T_PNL, T_RETURN, T_COMM = range(8)
T_EXIT_REASON = 8  # 0 signal, 1 stop-loss, 2 take-profit, 3 ruin (liquidated at equity <= 0)
N_TRADE_FIELDS = 9

FULL_SIZE = 1.0 - np.finfo(np.float64).eps  # backtesting.py's default order size (_FULL_EQUITY)
NS_PER_DAY = 86_400e9


@njit(cache=True, inline="always")
def _entry_size(sizing: int, cash: float, price: float, xv: np.ndarray) -> float:
    rate = xv[X_COMM_RATE]
    fixed = xv[X_COMM_FIXED]
    if cash <= 0.0:
        return 0.0
    if sizing == SIZING_ALL_CASH_UNITS:
        adjusted = price + (fixed + FULL_SIZE * price * rate) / FULL_SIZE
        return float(int((cash * 1.0 * FULL_SIZE) // adjusted))
    if sizing == SIZING_FIXED_FRACTION:
        return math.floor((cash * xv[X_FRACTION] - fixed) / (price * (1.0 + rate)))
    size = (cash - fixed) / (price * (1.0 + rate))
    return size if size > 0.0 else 0.0


# Trade accumulators of one combination (`acc`), written only when a trade closes.
A_N_TR, A_N_WIN, A_BEST, A_WORST, A_SUM_R, A_SUM_POS, A_SUM_NEG, A_SUM_LOG = range(8)
A_BAD_LOG, A_PL_MEAN, A_PL_M2, A_COMM, A_EXPOSED, A_LAST_EXPOSED, A_N_REC = range(8, 15)
N_ACC = 15


@njit(cache=True, error_model="numpy")
def _book_trade(
    acc: np.ndarray,
    trades_out: np.ndarray,
    record: bool,
    pos: float,
    entry: float,
    entry_comm: float,
    entry_bar: int,
    q: float,
    i: int,
    xv: np.ndarray,
    reason: int,
) -> float:
    """Close `pos` at fill price `q` on bar i: book the trade, return the cash change.
    Kept out of the bar loop so the loop's registers stay on the per-bar state."""
    pl = pos * (q - entry)
    exit_comm = xv[X_COMM_FIXED] + abs(pos) * q * xv[X_COMM_RATE]
    tcomm = exit_comm + entry_comm
    tpl = pl - tcomm
    r = (q / entry - 1.0) * (1.0 if pos > 0.0 else -1.0) - tcomm / (abs(pos) * entry)
    acc[A_N_TR] += 1.0
    n_tr = acc[A_N_TR]
    if tpl > 0.0:
        acc[A_N_WIN] += 1.0
    acc[A_BEST] = max(acc[A_BEST], r)
    acc[A_WORST] = min(acc[A_WORST], r)
    acc[A_SUM_R] += r
    if r > 0.0:
        acc[A_SUM_POS] += r
    elif r < 0.0:
        acc[A_SUM_NEG] += r
    if 1.0 + r <= 0.0:
        acc[A_BAD_LOG] = 1.0
    else:
        acc[A_SUM_LOG] += math.log1p(r)
    d = tpl - acc[A_PL_MEAN]
    acc[A_PL_MEAN] += d / n_tr
    acc[A_PL_M2] += d * (tpl - acc[A_PL_MEAN])
    acc[A_COMM] += tcomm
    start = max(entry_bar, int(acc[A_LAST_EXPOSED]) + 1)
    if i >= start:
        acc[A_EXPOSED] += i - start + 1
    acc[A_LAST_EXPOSED] = i
    if record and acc[A_N_REC] < trades_out.shape[0]:
        t = trades_out[int(acc[A_N_REC])]
        t[T_ENTRY_BAR] = entry_bar
        t[T_EXIT_BAR] = i
        t[T_SIZE] = pos
        t[T_ENTRY_PRICE] = entry
        t[T_EXIT_PRICE] = q
        t[T_PNL] = tpl
        t[T_RETURN] = r
        t[T_COMM] = tcomm
        t[T_EXIT_REASON] = reason
        acc[A_N_REC] += 1.0
    return pl - exit_comm


@njit(cache=True, inline="always")
def _fill(
    fill_ev: int,
    fill_price: float,
    i: int,
    pos: float,
    entry: float,
    entry_comm: float,
    entry_bar: int,
    cash: float,
    long_short: bool,
    sizing: int,
    acc: np.ndarray,
    trades_out: np.ndarray,
    record: bool,
    xv: np.ndarray,
) -> tuple[float, float, float, int, float]:
    """Act on signal `fill_ev` at `fill_price` on bar i: +-1 go that way (a position already
    that way is kept), +-2 the same but a position already that way is closed and re-opened;
    a reversal is two orders, close then open. Returns (pos, entry, entry_comm, entry_bar, cash)."""
    slip = xv[X_SLIPPAGE]
    want = 1.0 if fill_ev > 0 else -1.0
    if pos != 0.0:
        if pos * want < 0.0 or fill_ev == 2 or fill_ev == -2:
            q = fill_price * (1.0 - slip) if pos > 0.0 else fill_price * (1.0 + slip)
            cash += _book_trade(
                acc, trades_out, record, pos, entry, entry_comm, entry_bar, q, i, xv, 0
            )
            pos = 0.0
        else:
            return pos, entry, entry_comm, entry_bar, cash
    if want > 0.0 or long_short:
        q = fill_price * (1.0 + slip) if want > 0.0 else fill_price * (1.0 - slip)
        size = _entry_size(sizing, cash, q, xv)
        if size > 0.0:
            pos = size * want
            entry = q
            entry_comm = xv[X_COMM_FIXED] + size * q * xv[X_COMM_RATE]
            cash -= entry_comm
            entry_bar = i
    return pos, entry, entry_comm, entry_bar, cash


@njit(cache=True, inline="always")
def _window_mean(sums: np.ndarray, i: int, n: int) -> float:
    """Mean of the n values ending at i from their prefix sums (vectorbt's MA, bit for bit)."""
    if i < n - 1:
        return np.nan
    if i < n:
        return sums[i] / (i + 1)
    return (sums[i] - sums[i - n]) / n


@njit(cache=True)
def _prefix_sums_compiled(values: np.ndarray) -> np.ndarray:
    """Running sums in bar order (one sequential addition per bar)."""
    out = np.empty(values.shape[0], dtype=np.float64)
    total = 0.0
    for i in range(values.shape[0]):
        total = total + values[i]
        out[i] = total
    return out


# Where two lines stand (`_side`): a above b, a below b, equal, either NaN.
ABOVE, BELOW, LEVEL, UNSET = 1, -1, 0, 2


@njit(cache=True, inline="always")
def _side(a: float, b: float) -> int:
    """ABOVE, BELOW, LEVEL or UNSET (either is NaN), without a branch."""
    return 2 - int(a > b) - 3 * int(a < b) - 2 * int(a == b)


@njit(cache=True, inline="always")
def _cross_events(
    sticky: bool, sides: np.ndarray, n: int, first_bar: int, ev_bar: np.ndarray, ev_code: np.ndarray
) -> int:
    """The events of the cross rules from the side of every bar (`sides`, padded with its
    last value to a multiple of 8 bytes). They can fire only where the side changes, and
    their state holds in between, so the bars are scanned eight at a time for a change
    (byte j of a word is bar 8k + j: little-endian, as on every target numba supports)."""
    words = sides.view(np.uint64)
    ever_below = False
    ever_above = False
    prev = UNSET
    carry = np.uint64(UNSET)
    count = 0
    for k in range(words.shape[0]):
        word = words[k]
        shifted = (word << np.uint64(8)) | carry  # each byte's previous bar, bytewise
        carry = word >> np.uint64(56)
        if word == shifted:
            continue
        for i in range(8 * k, 8 * k + 8):
            side = int(sides[i])
            if side == prev:
                continue
            ev = 0
            if sticky:
                if side == UNSET:
                    ever_below = False
                    ever_above = False
                elif side == ABOVE:
                    ev = 1 if ever_below else 0
                    ever_above = True
                elif side == BELOW:
                    ev = -1 if ever_above else 0
                    ever_below = True
            elif side == ABOVE and prev == BELOW:
                ev = 2
            elif side == BELOW and prev == ABOVE:
                ev = -2
            prev = side
            if ev != 0 and first_bar <= i < n:
                ev_bar[count] = i
                ev_code[count] = ev
                count += 1
    return count


@njit(cache=True, error_model="numpy")
def _events(
    code: int,
    close: np.ndarray,
    lines: np.ndarray,
    ia: np.ndarray,
    fa: np.ndarray,
    first_bar: int,
    ev_bar: np.ndarray,
    ev_code: np.ndarray,
    sides: np.ndarray,
) -> int:
    """Phase one of a combination: the bars where its rule fires and what it says (+-1 go
    long/short-or-flat, +-2 the same but close and re-open a position already that way).
    One loop per rule (the rule is fixed for the whole run); the cross rules first take
    the side of every bar in a loop the compiler vectorises, into `sides` (n rounded up to
    a multiple of 8 bytes)."""
    n = close.shape[0]
    prefix = code in (RULE_CROSS_PREFIX, RULE_CROSS_STICKY_PREFIX)
    la = lines[0] if prefix else lines[ia[0]]
    lb = lines[0] if prefix else lines[ia[ia.shape[0] - 1]]
    count = 0
    if code in (RULE_CROSS, RULE_CROSS_STICKY, RULE_CROSS_PREFIX, RULE_CROSS_STICKY_PREFIX):
        if prefix:
            fast, slow = ia[0], ia[1]
            full = min(max(fast, slow), n)  # from here both windows are full: no branch
            for i in range(full):
                sides[i] = np.int8(_side(_window_mean(la, i, fast), _window_mean(la, i, slow)))
            for i in range(full, n):
                a = (la[i] - la[i - fast]) / fast
                b = (la[i] - la[i - slow]) / slow
                sides[i] = np.int8(_side(a, b))
        else:
            for i in range(n):
                sides[i] = np.int8(_side(la[i], lb[i]))
        for i in range(n, sides.shape[0]):
            sides[i] = sides[n - 1]
        sticky = code in (RULE_CROSS_STICKY, RULE_CROSS_STICKY_PREFIX)
        return _cross_events(sticky, sides, n, first_bar, ev_bar, ev_code)
    if code == RULE_MACD:
        first_bar = max(first_bar, 1)
        sig_ema = np.nan
        a_prev = np.nan
        b_prev = np.nan
        for i in range(n):
            a = la[i] - lb[i]
            if not np.isnan(a):
                sig_ema = a if np.isnan(sig_ema) else fa[0] * a + (1.0 - fa[0]) * sig_ema
            b = sig_ema
            if i >= first_bar:
                ev = 0
                if a_prev < b_prev and a > b:
                    ev = 2
                elif a_prev > b_prev and a < b:
                    ev = -2
                if ev != 0:
                    ev_bar[count] = i
                    ev_code[count] = ev
                    count += 1
            a_prev = a
            b_prev = b
        return count
    if code == RULE_THRESHOLD:
        a_prev = np.nan
        for i in range(n):
            a = la[i]
            if i >= first_bar:
                ev = 0
                if a < fa[0] and a_prev >= fa[0]:
                    ev = 1
                elif a > fa[1] and a_prev <= fa[1]:
                    ev = -1
                if ev != 0:
                    ev_bar[count] = i
                    ev_code[count] = ev
                    count += 1
            a_prev = a
        return count
    if code == RULE_BANDS:
        a_prev = np.nan
        b_prev = np.nan
        u_prev = np.nan
        for i in range(n):
            mid = la[i]
            width = fa[0] * lb[i]
            c = close[i]
            lo_band = mid - width
            hi_band = mid + width
            if i >= first_bar:
                ev = 0
                if c < lo_band and a_prev >= b_prev:
                    ev = 1
                elif c > hi_band and a_prev <= u_prev:
                    ev = -1
                if ev != 0:
                    ev_bar[count] = i
                    ev_code[count] = ev
                    count += 1
            a_prev = c
            b_prev = lo_band
            u_prev = hi_band
        return count
    if code == RULE_BREAKOUT:
        for i in range(max(first_bar, 0), n):
            ev = 0
            if close[i] > la[i]:
                ev = 1
            elif close[i] < lb[i]:
                ev = -1
            if ev != 0:
                ev_bar[count] = i
                ev_code[count] = ev
                count += 1
        return count
    for i in range(max(first_bar, 0), n):  # RULE_SIGNALS: the line is the signal
        v = la[i]
        if v == v:  # NaN holds
            ev = 2 if v >= 2.0 else (-2 if v <= -2.0 else int(v))
            if ev != 0:
                ev_bar[count] = i
                ev_code[count] = ev
                count += 1
    return count


@njit(cache=True, inline="always")
def _add_return(
    r: float, s1: float, s2: float, s3: float, s4: float, sneg2: float
) -> tuple[float, float, float, float, float]:
    """The running sums of a period return `r`: its first four powers and its downside
    square (for the Sharpe, Sortino and probabilistic Sharpe ratios)."""
    r2 = r * r
    rn = min(r, 0.0)
    return s1 + r, s2 + r2, s3 + r2 * r, s4 + r2 * r2, sneg2 + rn * rn


@njit(cache=True)
def _inputs_fit(
    code: int,
    opn: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    period_end: np.ndarray,
    period_count: np.ndarray,
    ts: np.ndarray,
    lines: np.ndarray,
    ia: np.ndarray,
    fa: np.ndarray,
    trade_start: int,
    xv: np.ndarray,
    out: np.ndarray,
    record: bool,
    equity_out: np.ndarray,
) -> bool:
    """Whether every index `_run_one` will take stays inside its arrays: the kernel's own
    bounds check, whatever the caller passed (a combination that fails it gets NaN metrics)."""
    n = close.shape[0]
    if n < 1 or not 0 <= trade_start < n:
        return False
    if opn.shape[0] < n or high.shape[0] < n or low.shape[0] < n or ts.shape[0] < n:
        return False
    if period_end.shape[0] < n or period_count.shape[0] < n + 1:
        return False
    if xv.shape[0] < N_EXEC_FIELDS or out.shape[0] < N_METRICS:
        return False
    if record and equity_out.shape[0] < n:
        return False
    if ia.shape[0] < 1 or lines.shape[0] < 1 or lines.shape[1] < n:
        return False
    if code in (RULE_CROSS_PREFIX, RULE_CROSS_STICKY_PREFIX):
        # ia holds the two windows, read from the prefix-sum row lines[0]
        return ia.shape[0] >= 2 and ia[0] >= 1 and ia[1] >= 1
    for k in range(ia.shape[0]):
        if not 0 <= ia[k] < lines.shape[0]:
            return False
    if code == RULE_THRESHOLD:
        return fa.shape[0] >= 2
    if code in (RULE_MACD, RULE_BANDS):
        return fa.shape[0] >= 1
    return True


@njit(cache=True, error_model="numpy")
def _run_one_compiled(
    code: int,
    opn: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    period_end: np.ndarray,
    period_count: np.ndarray,
    ts: np.ndarray,
    lines: np.ndarray,
    ia: np.ndarray,
    fa: np.ndarray,
    first_bar: int,
    warm_bar: int,
    trade_start: int,
    xv: np.ndarray,
    out: np.ndarray,
    record: bool,
    equity_out: np.ndarray,
    trades_out: np.ndarray,
) -> int:
    """Simulate one combination; write its metrics into `out`. Signals may act from
    `max(first_bar, trade_start)`; metrics cover bars [trade_start, n) (indicator state warms
    up on the bars before, as walk-forward test windows need).

    With `record`, also write the equity of every bar into `equity_out` and the closed
    trades into `trades_out`; return the number of trades written.
    """
    if not _inputs_fit(
        code, opn, high, low, close, period_end, period_count, ts, lines, ia, fa, trade_start,
        xv, out, record, equity_out,
    ):  # fmt: skip
        for k in range(out.shape[0]):
            out[k] = np.nan
        return 0
    n = close.shape[0]
    cash0 = xv[X_CASH]
    on_close = int(xv[X_FILL]) == FILL_CLOSE
    long_short = xv[X_LONG_SHORT] != 0.0
    slip = xv[X_SLIPPAGE]
    sizing = int(xv[X_SIZING])
    sl = xv[X_STOP_LOSS]
    tp = xv[X_TAKE_PROFIT]
    use_exits = sl > 0.0 or tp > 0.0

    cash = cash0
    pos = 0.0  # signed units
    entry = 0.0
    entry_comm = 0.0
    entry_bar = 0
    pending = 0

    # equity / drawdown
    equity = cash0
    peak = cash0
    max_dd = 0.0
    last_zero = trade_start
    max_dur_bars = 0
    max_dur_ns = 0
    # period returns
    have_prev = False
    prev_eq = 0.0
    first_eq = 0.0
    n_ret = 0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    sneg2 = 0.0
    nonpositive = False
    ruined = False
    ruin_bar = -1
    acc = np.zeros(N_ACC, dtype=np.float64)
    acc[A_BEST] = -np.inf
    acc[A_WORST] = np.inf
    acc[A_LAST_EXPOSED] = -1.0

    ev_bar = np.empty(n + 1, dtype=np.int32)
    ev_code = np.empty(n + 1, dtype=np.int8)
    sides = np.empty((n + 7) // 8 * 8, dtype=np.int8)
    n_ev = _events(code, close, lines, ia, fa, max(first_bar, trade_start), ev_bar, ev_code, sides)
    k_ev = 0
    next_ev = ev_bar[0] if n_ev > 0 else n
    i = 0
    while i < n:
        stop = i + 1
        if pending == 0 and i < next_ev and not (use_exits and pos != 0.0):
            # quiet bars up to the next signal: nothing to fill or check, only mark to market
            stop = next_ev
        else:
            # The order of events inside bar i, the same for both fill modes:
            # ---- 1. the open: the order decided at the previous close fills (next-open mode)
            if not on_close and pending != 0:
                pos, entry, entry_comm, entry_bar, cash = _fill(
                    pending, opn[i], i, pos, entry, entry_comm, entry_bar, cash,
                    long_short, sizing, acc, trades_out, record, xv,
                )  # fmt: skip
            pending = 0

            # ---- 2. stop-loss / take-profit of a position held from an earlier bar or filled
            # at this open: a gap through a level fills at the open, then the bar's range
            # (stop first when both levels are inside it: pessimistic)
            if use_exits and pos != 0.0:
                exit_price = 0.0
                reason = 0
                gap = entry_bar < i
                if pos > 0.0:
                    sl_level = entry * (1.0 - sl)
                    tp_level = entry * (1.0 + tp)
                    if gap and sl > 0.0 and opn[i] <= sl_level:
                        exit_price = opn[i]
                        reason = 1
                    elif gap and tp > 0.0 and opn[i] >= tp_level:
                        exit_price = opn[i]
                        reason = 2
                    elif sl > 0.0 and low[i] <= sl_level:
                        exit_price = sl_level
                        reason = 1
                    elif tp > 0.0 and high[i] >= tp_level:
                        exit_price = tp_level
                        reason = 2
                else:
                    sl_level = entry * (1.0 + sl)
                    tp_level = entry * (1.0 - tp)
                    if gap and sl > 0.0 and opn[i] >= sl_level:
                        exit_price = opn[i]
                        reason = 1
                    elif gap and tp > 0.0 and opn[i] <= tp_level:
                        exit_price = opn[i]
                        reason = 2
                    elif sl > 0.0 and high[i] >= sl_level:
                        exit_price = sl_level
                        reason = 1
                    elif tp > 0.0 and low[i] <= tp_level:
                        exit_price = tp_level
                        reason = 2
                if reason != 0:
                    q = exit_price * (1.0 - slip) if pos > 0.0 else exit_price * (1.0 + slip)
                    cash += _book_trade(
                        acc, trades_out, record, pos, entry, entry_comm, entry_bar, q, i, xv, reason
                    )
                    pos = 0.0

            # ---- 3. the close: this bar's signal (found in phase one) fills now (close
            # mode) or is kept for the next open
            if i == next_ev:
                ev = int(ev_code[k_ev])
                k_ev += 1
                next_ev = ev_bar[k_ev] if k_ev < n_ev else n
                if on_close:
                    pos, entry, entry_comm, entry_bar, cash = _fill(
                        ev, close[i], i, pos, entry, entry_comm, entry_bar, cash,
                        long_short, sizing, acc, trades_out, record, xv,
                    )  # fmt: skip
                else:
                    pending = ev

        j = i
        if pos != 0.0 and have_prev and not (record or ruined) and i >= trade_start:
            # Held through quiet bars: the loop below without what cannot happen here (and
            # with few live values, so its sums stay in registers). A period whose equity
            # equals the last one's needs no branch: its return, +0.0, leaves every sum as
            # it was. The drawdown test reads one level, kept equal to
            # peak * (1 - max_dd).
            held = pos * entry
            dd_level = peak * (1.0 - max_dd)
            while j < stop:
                equity = cash + (close[j] * pos - held)
                if equity <= 0.0:
                    break
                if equity >= peak:
                    if j - last_zero > 1:
                        max_dur_bars = max(max_dur_bars, j - last_zero)
                        max_dur_ns = max(max_dur_ns, ts[j] - ts[last_zero])
                    last_zero = j
                    peak = max(peak, equity)
                    dd_level = peak * (1.0 - max_dd)
                elif equity < dd_level:
                    max_dd = 1.0 - equity / peak
                    dd_level = peak * (1.0 - max_dd)
                if period_end[j]:
                    n_ret += 1
                    same = equity == prev_eq  # (inf == inf too, where the quotient is NaN)
                    r = 0.0 if same else equity / prev_eq - 1.0
                    s1, s2, s3, s4, sneg2 = _add_return(r, s1, s2, s3, s4, sneg2)
                    prev_eq = equity
                j += 1
        while j < stop:
            # ---- 4. equity at the close, drawdown, period returns
            equity = cash + (close[j] * pos - pos * entry) if pos != 0.0 else cash
            if equity <= 0.0 and not ruined:
                break  # ruin at bar j: handled below, out of this loop's registers
            if record:
                equity_out[j] = equity
            if j < trade_start:
                j += 1
                continue
            at_peak = equity >= peak
            if at_peak and j - last_zero > 1:
                if j - last_zero > max_dur_bars:
                    max_dur_bars = j - last_zero
                if ts[j] - ts[last_zero] > max_dur_ns:
                    max_dur_ns = ts[j] - ts[last_zero]
            if equity < peak * (1.0 - max_dd):
                max_dd = 1.0 - equity / peak
            last_zero = j if at_peak else last_zero
            peak = max(peak, equity)
            if period_end[j] and not (ruined and prev_eq == 0.0):
                # (after ruin 0 -> 0 is no return, as backtesting.py drops 0/0)
                if have_prev and equity == prev_eq:
                    n_ret += 1
                elif have_prev:
                    n_ret += 1
                    s1, s2, s3, s4, sneg2 = _add_return(
                        equity / prev_eq - 1.0, s1, s2, s3, s4, sneg2
                    )
                    if equity <= 0.0:
                        nonpositive = True
                else:
                    have_prev = True
                    first_eq = equity
                prev_eq = equity
            j += 1
            if (
                pos == 0.0
                and not record
                and j > trade_start
                and ((have_prev and prev_eq == equity) or period_count[stop] == period_count[j])
            ):
                # flat, with the equity already booked or no period end before `stop`: the
                # rest of the stretch repeats this bar
                if last_zero == j - 1:
                    last_zero = stop - 1
                if not ruined:
                    n_ret += period_count[stop] - period_count[j]
                j = stop

        if j < stop:
            # ruin (backtesting.py's rule): liquidate at bar j's close and stop trading; the
            # account is worth 0 from there on (bar j is marked again, at 0, from the top)
            if pos != 0.0:
                q = close[j] * (1.0 - slip) if pos > 0.0 else close[j] * (1.0 + slip)
                _book_trade(acc, trades_out, record, pos, entry, entry_comm, entry_bar, q, j, xv, 3)
                pos = 0.0
            cash = 0.0
            ruined = True
            ruin_bar = j
            pending = 0
            next_ev = n
            i = j
            continue
        i = stop

    # ---- finish: metrics with backtesting.py's definitions
    last = n - 1
    if last - last_zero > 1:
        if last - last_zero > max_dur_bars:
            max_dur_bars = last - last_zero
        if ts[last] - ts[last_zero] > max_dur_ns:
            max_dur_ns = ts[last] - ts[last_zero]
    annual = xv[X_ANNUAL_PERIODS]
    rf = xv[X_RISK_FREE]
    if n_ret > 0 and not nonpositive and first_eq > 0.0:
        gmean = (equity / first_eq) ** (1.0 / n_ret) - 1.0
    else:
        gmean = 0.0
    ann_ret = (1.0 + gmean) ** annual - 1.0
    if n_ret > 1:
        mean_r = s1 / n_ret
        var = max((s2 - s1 * mean_r) / (n_ret - 1), 0.0)
        vol = math.sqrt(
            max((var + (1.0 + gmean) ** 2) ** annual - (1.0 + gmean) ** (2.0 * annual), 0.0)
        )
    else:
        mean_r = 0.0
        var = np.nan
        vol = np.nan
    years = (ts[last] - ts[trade_start]) / NS_PER_DAY / 365.25
    out[_FINAL_EQUITY] = equity
    out[_EQUITY_PEAK] = peak
    out[_TOTAL_RETURN_PCT] = (equity - cash0) / cash0 * 100.0
    wb = max(warm_bar, trade_start)
    # buy-and-hold from the bar the indicators are valid; NaN when they never are
    out[_BUY_HOLD_RETURN_PCT] = (
        (close[last] - close[wb]) / close[wb] * 100.0 if wb <= last else np.nan
    )
    out[_RETURN_ANN_PCT] = ann_ret * 100.0
    out[_CAGR_PCT] = ((equity / cash0) ** (1.0 / years) - 1.0) * 100.0 if years > 0 else np.nan
    out[_VOLATILITY_ANN_PCT] = vol * 100.0
    out[_SHARPE_RATIO] = (ann_ret - rf) / vol if vol > 0 else np.nan
    downside = math.sqrt(sneg2 / n_ret) * math.sqrt(annual) if n_ret > 0 else np.nan
    if downside > 0:
        out[_SORTINO_RATIO] = (ann_ret - rf) / downside
    elif downside == 0 and ann_ret - rf != 0:
        out[_SORTINO_RATIO] = np.inf if ann_ret - rf > 0 else -np.inf
    else:
        out[_SORTINO_RATIO] = np.nan
    out[_CALMAR_RATIO] = ann_ret / max_dd if max_dd > 0 else np.nan
    out[_MAX_DRAWDOWN_PCT] = -max_dd * 100.0
    out[_MAX_DRAWDOWN_DURATION_BARS] = max_dur_bars
    out[_MAX_DRAWDOWN_DURATION_DAYS] = max_dur_ns / NS_PER_DAY
    n_tr = int(acc[A_N_TR])
    out[_TRADES] = n_tr
    if n_tr > 0:
        out[_WIN_RATE_PCT] = acc[A_N_WIN] / n_tr * 100.0
        out[_BEST_TRADE_PCT] = acc[A_BEST] * 100.0
        out[_WORST_TRADE_PCT] = acc[A_WORST] * 100.0
        out[_AVG_TRADE_PCT] = (
            0.0 if acc[A_BAD_LOG] != 0.0 else (math.exp(acc[A_SUM_LOG] / n_tr) - 1.0) * 100.0
        )
        sum_neg_r = acc[A_SUM_NEG]
        out[_PROFIT_FACTOR] = acc[A_SUM_POS] / -sum_neg_r if sum_neg_r < 0 else np.nan
        out[_EXPECTANCY_PCT] = acc[A_SUM_R] / n_tr * 100.0
        sd_pl = math.sqrt(acc[A_PL_M2] / (n_tr - 1)) if n_tr > 1 else np.nan
        out[_SQN] = math.sqrt(n_tr) * acc[A_PL_MEAN] / sd_pl if sd_pl > 0 else np.nan
    else:
        for name_i in (
            _WIN_RATE_PCT,
            _BEST_TRADE_PCT,
            _WORST_TRADE_PCT,
            _AVG_TRADE_PCT,
            _PROFIT_FACTOR,
            _EXPECTANCY_PCT,
            _SQN,
        ):
            out[name_i] = np.nan
    out[_EXPOSURE_PCT] = acc[A_EXPOSED] / (n - trade_start) * 100.0
    out[_COMMISSIONS] = acc[A_COMM]
    # probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012) against a zero benchmark,
    # on the per-period returns with their skewness and kurtosis
    psr = np.nan
    if n_ret > 2:
        m1 = s1 / n_ret
        m2 = s2 / n_ret - m1 * m1
        if m2 > 0:
            m3 = s3 / n_ret - 3.0 * m1 * s2 / n_ret + 2.0 * m1**3
            m4 = s4 / n_ret - 4.0 * m1 * s3 / n_ret + 6.0 * m1 * m1 * s2 / n_ret - 3.0 * m1**4
            sr = m1 / math.sqrt(m2)
            skew = m3 / m2**1.5
            kurt = m4 / (m2 * m2)
            denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
            if denom > 0:
                z = sr * math.sqrt(n_ret - 1.0) / math.sqrt(denom)
                psr = 0.5 * math.erfc(-z / math.sqrt(2.0))
    out[_PROBABILISTIC_SHARPE] = psr
    out[_RUINED] = 1.0 if ruined else 0.0
    out[_RUINED_BAR] = ruin_bar if ruined else np.nan
    if ruined:
        # ratios of a wiped-out account mean nothing: NaN, so rankings cannot prefer them
        out[_RETURN_ANN_PCT] = -100.0
        out[_SHARPE_RATIO] = np.nan
        out[_SORTINO_RATIO] = np.nan
        out[_CALMAR_RATIO] = np.nan
        out[_PROBABILISTIC_SHARPE] = np.nan
    return int(acc[A_N_REC])


@njit(cache=True, parallel=True, error_model="numpy")
def _sweep_compiled(
    code: int,
    opn: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    period_end: np.ndarray,
    period_count: np.ndarray,
    ts: np.ndarray,
    lines: np.ndarray,
    ia: np.ndarray,
    fa: np.ndarray,
    first_bar: np.ndarray,
    warm_bar: np.ndarray,
    trade_start: int,
    xv: np.ndarray,
) -> np.ndarray:
    """Metrics of every combination (rows of `ia`/`fa`): a (combinations x metrics) array."""
    n_combos = ia.shape[0]
    out = np.empty((n_combos, N_METRICS), dtype=np.float64)
    if fa.shape[0] < n_combos or first_bar.shape[0] < n_combos or warm_bar.shape[0] < n_combos:
        out[:] = np.nan
        return out
    no_equity = np.empty(0, dtype=np.float64)
    no_trades = np.empty((0, N_TRADE_FIELDS), dtype=np.float64)
    for c in prange(n_combos):
        _run_one_compiled(
            code, opn, high, low, close, period_end, period_count, ts, lines, ia[c], fa[c],
            first_bar[c], warm_bar[c], trade_start, xv, out[c], False, no_equity, no_trades,
        )  # fmt: skip
    return out


# ---- the entry points Python calls, each compiled for one signature --------------------------
# Inputs are passed as read-only C-contiguous arrays of one dtype (a view, no copy, when they
# already are): bars from pandas, from a Parquet snapshot or from a test then all take the
# same compiled code, and `compile_kernels` can compile it before the first call.


def frozen(values: np.ndarray, dtype: type[np.generic] | np.dtype[Any]) -> np.ndarray:
    """`values` as a read-only C-contiguous array of `dtype` (a view when it already is one)."""
    out = np.ascontiguousarray(values, dtype=dtype)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def prefix_sums(values: np.ndarray) -> np.ndarray:
    """Running sums in bar order (one sequential addition per bar)."""
    return _prefix_sums_compiled(frozen(values, np.float64))


def _run_one(
    code: int,
    opn: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    period_end: np.ndarray,
    period_count: np.ndarray,
    ts: np.ndarray,
    lines: np.ndarray,
    ia: np.ndarray,
    fa: np.ndarray,
    first_bar: int,
    warm_bar: int,
    trade_start: int,
    xv: np.ndarray,
    out: np.ndarray,
    record: bool,
    equity_out: np.ndarray,
    trades_out: np.ndarray,
) -> int:
    """One combination in detail (see `_run_one_compiled`); `out`, `equity_out` and
    `trades_out` are written in place."""
    f8, i8 = np.float64, np.int64
    count: int = _run_one_compiled(
        int(code), frozen(opn, f8), frozen(high, f8), frozen(low, f8), frozen(close, f8),
        frozen(period_end, np.bool_), frozen(period_count, i8), frozen(ts, i8),
        frozen(lines, f8), frozen(ia, i8), frozen(fa, f8), int(first_bar), int(warm_bar),
        int(trade_start), frozen(xv, f8), out, bool(record), equity_out, trades_out,
    )  # fmt: skip
    return count


def sweep_kernel(
    code: int,
    opn: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    period_end: np.ndarray,
    period_count: np.ndarray,
    ts: np.ndarray,
    lines: np.ndarray,
    ia: np.ndarray,
    fa: np.ndarray,
    first_bar: np.ndarray,
    warm_bar: np.ndarray,
    trade_start: int,
    xv: np.ndarray,
) -> np.ndarray:
    """Metrics of every combination (rows of `ia`/`fa`): a (combinations x metrics) array
    (see `_sweep_compiled`)."""
    f8, i8 = np.float64, np.int64
    result: np.ndarray = _sweep_compiled(
        int(code), frozen(opn, f8), frozen(high, f8), frozen(low, f8), frozen(close, f8),
        frozen(period_end, np.bool_), frozen(period_count, i8), frozen(ts, i8),
        frozen(lines, f8), frozen(ia, i8), frozen(fa, f8), frozen(first_bar, i8),
        frozen(warm_bar, i8), int(trade_start), frozen(xv, f8),
    )  # fmt: skip
    return result


def compiled_signatures() -> list[tuple[Any, tuple[Any, ...]]]:
    """(dispatcher, argument types) of every compiled entry point of this module, as the
    wrappers above call them: compiling these leaves nothing to compile on a call."""

    def ro(dtype: Any, ndim: int) -> Any:
        return types.Array(dtype, ndim, "C", readonly=True)

    f8, i8 = types.float64, types.int64
    bars = (i8, ro(f8, 1), ro(f8, 1), ro(f8, 1), ro(f8, 1))
    periods = (ro(types.boolean, 1), ro(i8, 1), ro(i8, 1), ro(f8, 2))
    sweep = (*bars, *periods, ro(i8, 2), ro(f8, 2), ro(i8, 1), ro(i8, 1), i8, ro(f8, 1))
    w1, w2 = types.Array(f8, 1, "C"), types.Array(f8, 2, "C")
    one = (*bars, *periods, ro(i8, 1), ro(f8, 1), i8, i8, i8, ro(f8, 1), w1, types.boolean, w1, w2)
    return [
        (_prefix_sums_compiled, (ro(f8, 1),)),
        (_run_one_compiled, one),
        (_sweep_compiled, sweep),
    ]
