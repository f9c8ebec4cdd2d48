"""The parity matrix against backtesting.py 0.6.6 (its own GOOG daily and EURUSD hourly data).

Every built-in strategy x {GOOG, EURUSD} x {long-only, long-short} x {next-open, close} x {no
stops, stop-loss, take-profit, both} is run, each with one of the three commission levels {0,
0.2 %, $1 per order} chosen so that every level meets every value of every other factor (192
configurations; PARITY_FULL=1 runs all 576), plus random valid parameter sets. Every trade
(entry/exit bar, size, prices, P&L, return, commission) and every metric must agree within
1e-9, except the differences the README lists under "Remaining differences", each checked
here for exactly its cause:

- close fills with a commission: backtesting.py fills a close order while processing the next
  bar, so its equity curve books the commission one bar late; the trades and trade metrics
  agree, and the equity curves differ at each bar by exactly the commissions of that bar's
  close fills (`_lagged_commissions`);
- a close-fill signal on the last bar: the engine fills it at that close (with a commission
  the final equity has paid it; the position is open, so not in the trades); backtesting.py's
  order waits for a next bar that never comes;
- ruined runs: backtesting.py reports an annual return of 0 and Sharpe/Sortino/Calmar numbers
  for an account at 0; the engine -100 % and NaN (see the ruin rule).
"""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting.test import EURUSD, GOOG

from shared.backtest import BacktestResult, ExecutionSettings, load_bars, run_backtest
from shared.backtest.metrics import RUIN_NAN_METRICS
from tests.backtest.peers import (
    BUILT_INS,
    EQUITY_CURVE_METRICS,
    Config,
    differences,
    run_peer,
    signal_rule,
)

DATA = {"GOOG": GOOG, "EURUSD": EURUSD}
# stop/target distances that trigger on each data set (daily stock vs hourly FX)
STOPS = {"GOOG": (5.0, 10.0), "EURUSD": (0.3, 0.5)}
COMMISSIONS = ((0.0, 0.0), (0.002, 0.0), (0.0, 1.0))  # (rate, fixed per order)
DEFAULTS: dict[str, dict[str, Any]] = {
    "sma_cross": {"fast": 10, "slow": 20},
    "ema_cross": {"fast": 12, "slow": 26},
    "macd": {"fast": 12, "slow": 26, "signal": 9},
    "rsi_reversion": {"n": 14, "lower": 30, "upper": 70},
    "bollinger_reversion": {"n": 20, "k": 2.0},
    "donchian_breakout": {"entry": 20, "exit": 10},
}
RUIN_DIFFERENCES = frozenset({"return_ann_pct", *RUIN_NAN_METRICS})
RANDOM_SETS = 4  # per strategy


def random_params(strategy: str, rng: random.Random) -> dict[str, Any]:
    if strategy in ("sma_cross", "ema_cross"):
        fast = rng.randint(2, 40)
        return {"fast": fast, "slow": rng.randint(fast + 1, 120)}
    if strategy == "macd":
        fast = rng.randint(2, 20)
        return {"fast": fast, "slow": rng.randint(fast + 1, 60), "signal": rng.randint(2, 15)}
    if strategy == "rsi_reversion":
        lower = rng.randint(5, 45)
        return {"n": rng.randint(2, 30), "lower": lower, "upper": rng.randint(lower + 5, 95)}
    if strategy == "bollinger_reversion":
        return {"n": rng.randint(2, 60), "k": round(rng.uniform(0.5, 3.0), 2)}
    return {"entry": rng.randint(2, 60), "exit": rng.randint(2, 60)}


def configurations(strategy: str, full: bool) -> list[tuple[str, dict[str, Any], Config]]:
    """(data, params, config) rows of the matrix for one strategy."""
    rows = []
    s = BUILT_INS.index(strategy)
    stops = ((False, False), (True, False), (False, True), (True, True))
    grid = itertools.product(
        enumerate(DATA), enumerate(("long_only", "long_short")),
        enumerate(("next_open", "close")), enumerate(stops),
    )  # fmt: skip
    for (d, data), (k, direction), (f, fill), (t, (use_sl, use_tp)) in grid:
        levels = range(3) if full else [(s + d + k + f + t) % 3]
        for c in levels:
            rate, fixed = COMMISSIONS[c]
            sl, tp = STOPS[data]
            config = Config(
                direction=direction, fill=fill, commission=rate, commission_fixed=fixed,
                stop_loss_pct=sl if use_sl else None, take_profit_pct=tp if use_tp else None,
            )  # fmt: skip
            rows.append((data, DEFAULTS[strategy], config))
    rng = random.Random(f"parity-{strategy}")
    for _ in range(RANDOM_SETS):
        data = rng.choice(list(DATA))
        base = rng.choice([row[2] for row in rows if row[0] == data])
        rows.append((data, random_params(strategy, rng), base))
    return rows


def _lagged_commissions(ours: BacktestResult, ref: pd.Series, n: int, config: Config) -> np.ndarray:
    """Per bar, the commissions of the orders the engine filled at that bar's close (entries,
    and exits on a signal): what backtesting.py's equity curve books one bar later. The trade
    still open at the end is not in the trade log: its entry is taken from the peer's."""
    lag = np.zeros(n)

    def book(bar: int, size: float, price: float) -> None:
        lag[bar] += config.commission_fixed + abs(size) * price * config.commission

    for t in ours.trades.itertuples():
        book(t.entry_bar, t.size, t.entry_price)
        if t.exit_reason == "signal":
            book(t.exit_bar, t.size, t.exit_price)
    for t in ref["_strategy"].trades:  # open at the end
        book(t.entry_bar, t.size, t.entry_price)
    return lag


def compare(
    data: str, strategy: str, params: dict[str, Any], config: Config
) -> tuple[list[str], int]:
    """Undocumented differences of one configuration, and the number of trades compared."""
    frame = DATA[data]
    bars = BARS[data]
    ours = run_backtest(bars, strategy, params, ExecutionSettings(**config.settings()))
    ref = run_peer(frame, strategy, params, config)
    skip: frozenset[str] = frozenset()
    if ours.ruined:
        skip = RUIN_DIFFERENCES
    found: list[str] = []
    lagged = config.fill == "close" and (config.commission or config.commission_fixed)
    if lagged:
        skip = skip | EQUITY_CURVE_METRICS
        # pin the cause: the curves differ by exactly the lagged commissions
        theirs = ref["_equity_curve"]["Equity"].to_numpy()
        mine = ours.equity["equity"].to_numpy()
        lag = _lagged_commissions(ours, ref, len(bars), config)
        residual = theirs[-1] - (mine[-1] + lag[-1])
        fee_cap = config.commission_fixed + config.commission * max(mine[-1], theirs[-1]) * 1.01
        if (
            residual > 1e-9
            and residual <= fee_cap
            and signal_rule(strategy, frame, params)[1](len(bars) - 1)
        ):
            # a signal on the last bar: the engine fills it at that close (its commission is
            # in the final equity), backtesting.py's order waits for a bar that never comes
            lag[-1] += residual
            skip = skip | {"final_equity", "total_return_pct", "cagr_pct"}
            LAST_BAR_FILLS.append(f"{data} {strategy} {params} {config}")
        expected = mine + lag
        stop = ours.ruined_bar if ours.ruined else len(bars)
        if not np.allclose(expected[:stop], theirs[:stop], rtol=1e-9, atol=1e-6):
            k = int(
                np.flatnonzero(~np.isclose(expected[:stop], theirs[:stop], rtol=1e-9, atol=1e-6))[0]
            )
            found.append(f"equity at bar {k}: {mine[k]} + lag {lag[k]} vs {theirs[k]}")
    found += differences(ours, ref, skip=skip)
    return [f"{data} {strategy} {params} {config}: {d}" for d in found], len(ours.trades)


BARS = {name: load_bars(frame, symbol=name) for name, frame in DATA.items()}
COUNTS: dict[str, tuple[int, int]] = {}
LAST_BAR_FILLS: list[str] = []


@pytest.mark.slow
@pytest.mark.parametrize("strategy", BUILT_INS)
def test_parity_matrix(strategy: str) -> None:
    full = os.environ.get("PARITY_FULL") == "1"
    rows = configurations(strategy, full)
    problems: list[str] = []
    trades = 0
    for data, params, config in rows:
        found, count = compare(data, strategy, params, config)
        problems += found
        trades += count
    COUNTS[strategy] = (len(rows), trades)
    assert not problems, "\n".join(problems[:20])
    assert trades > 0


def test_the_matrix_covers_every_commission_with_every_factor() -> None:
    rows = [row for s in BUILT_INS for row in configurations(s, full=False)[:-RANDOM_SETS]]
    assert len(rows) == 192
    for attribute in ("direction", "fill", "stop_loss_pct", "take_profit_pct"):
        pairs = set()
        for _, _, c in rows:
            value = getattr(c, attribute)
            level = value if attribute in ("direction", "fill") else value is not None
            pairs.add((level, (c.commission, c.commission_fixed)))
        assert len(pairs) == 2 * 3, attribute
    by_data = {(d, (c.commission, c.commission_fixed)) for d, _, c in rows}
    assert len(by_data) == 2 * 3


def test_close_fill_commission_lag_is_the_only_equity_difference() -> None:
    """Pins the first remaining difference on one configuration: trades and trade metrics
    equal, final equity equal, the curves apart by the lagged commissions only."""
    config = Config(direction="long_short", fill="close", commission=0.002)
    ours = run_backtest(
        BARS["GOOG"], "sma_cross", DEFAULTS["sma_cross"], ExecutionSettings(**config.settings())
    )
    ref = run_peer(GOOG, "sma_cross", DEFAULTS["sma_cross"], config)
    assert differences(ours, ref, skip=EQUITY_CURVE_METRICS) == []
    assert differences(ours, ref) != []  # Sharpe & co. do differ
    theirs = ref["_equity_curve"]["Equity"].to_numpy()
    lag = _lagged_commissions(ours, ref, len(GOOG), config)
    assert np.allclose(ours.equity["equity"].to_numpy() + lag, theirs, rtol=1e-12)
    no_cost = replace(config, commission=0.0)
    ours0 = run_backtest(
        BARS["GOOG"], "sma_cross", DEFAULTS["sma_cross"], ExecutionSettings(**no_cost.settings())
    )
    assert differences(ours0, run_peer(GOOG, "sma_cross", DEFAULTS["sma_cross"], no_cost)) == []
    assert isinstance(ref["_equity_curve"], pd.DataFrame)
